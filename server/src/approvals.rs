//! The approval matrix: who signed off which revision for which environment,
//! and whether that satisfies the policy. A decision is bound to the
//! revision's checksum and the policy's sha256: when either changes, the
//! decision stays on record but no longer counts. Owns the `approvals` table.

use crate::audit::{self, Event, Outcome};
use crate::auth::{self, Caller, Role};
use crate::catalog::{self, Revision};
use crate::config::{Environment, Policy, Requirement};
use crate::db::{Db, now_ms};
use crate::release::{self, Action, ReleaseError};
use schemagate_policy::RiskClass;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

macro_rules! select_approvals {
    () => {
        "SELECT id, project, revision_id, environment, action, kind, approver, approver_roles, \
         revision_checksum, policy_sha256, reason, comment, created_at_ms, revoked_at_ms, consumed_at_ms FROM approvals"
    };
}
/// Longest reason or comment kept.
pub const MAX_TEXT_BYTES: usize = 4096;

/// One decision as stored, with whether it still counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub id: String,
    pub project: String,
    pub revision_id: String,
    pub environment: String,
    pub action: String,
    /// approve | reject
    pub kind: String,
    pub approver: String,
    pub approver_roles: Vec<String>,
    pub revision_checksum: String,
    pub policy_sha256: String,
    pub reason: String,
    pub comment: String,
    pub created_at_ms: i64,
    pub revoked: bool,
    pub consumed: bool,
    /// Active and bound to the revision's current checksum and the loaded policy.
    pub valid: bool,
}

/// A decision as requested.
pub struct Decision<'a> {
    pub project: &'a str,
    pub revision_id: &'a str,
    pub environment: &'a str,
    pub action: Action,
    pub approve: bool,
    pub reason: &'a str,
    pub comment: &'a str,
}

/// What the matrix asks of `action` on `revision` in `env`.
pub fn requirement<'e>(
    env: &'e Environment,
    revision: &Revision,
    action: Action,
) -> &'e Requirement {
    match action {
        Action::Rollback => &env.matrix.rollback,
        Action::Apply => match revision.risk {
            RiskClass::Additive => &env.matrix.additive,
            RiskClass::Risky => &env.matrix.risky,
            RiskClass::Destructive => &env.matrix.destructive,
        },
    }
}

/// Records an approval or a rejection; it replaces the caller's earlier
/// active decision on the same revision, environment and action. Refusals
/// are audited too.
pub async fn decide(
    db: &Db,
    policy: &Policy,
    caller: &Caller,
    decision: &Decision<'_>,
) -> Result<Approval, ReleaseError> {
    let result = decide_inner(db, policy, caller, decision).await;
    let action = if decision.approve {
        "approval.approve"
    } else {
        "approval.reject"
    };
    let target = (decision.project, decision.environment, decision.revision_id);
    audit_refusal(db, caller, action, target, result).await
}

async fn decide_inner(
    db: &Db,
    policy: &Policy,
    caller: &Caller,
    decision: &Decision<'_>,
) -> Result<Approval, ReleaseError> {
    let env = release::environment(policy, decision.environment)?;
    check_text("reason", decision.reason)?;
    check_text("comment", decision.comment)?;
    let revision = catalog::get(db, decision.project, decision.revision_id).await?;
    let what = format!(
        "{} of {} on {}",
        decision.action.as_str(),
        revision.id,
        env.name
    );
    if decision.approve {
        let caller_person = auth::person(&caller.subject);
        if caller_person == auth::person(&revision.author) {
            return Err(ReleaseError::PermissionDenied(format!(
                "{} is the author of {}: an author cannot approve their own revision; ask another approver",
                caller.subject, revision.id
            )));
        }
        // An admin's amend makes the admin the author; whoever wrote an
        // earlier version still may not approve it.
        let earlier = audit::authors(db, &revision.project, &revision.id).await?;
        if earlier.iter().any(|a| auth::person(a) == caller_person) {
            return Err(ReleaseError::PermissionDenied(format!(
                "{} submitted an earlier version of {} (amended since by {}): an author cannot approve their own revision; ask another approver",
                caller.subject, revision.id, revision.author
            )));
        }
        match requirement(env, &revision, decision.action) {
            Requirement::Approvals { roles, .. } => {
                if !caller
                    .roles
                    .iter()
                    .any(|r| roles.iter().any(|n| n == r.as_str()))
                {
                    return Err(ReleaseError::PermissionDenied(format!(
                        "the {what} needs approvals from the role {}; you hold {}",
                        roles.join(" or "),
                        holds(caller)
                    )));
                }
            }
            Requirement::Forbidden => {
                let Some(emergency) = &policy.emergency else {
                    return Err(ReleaseError::Refused(format!(
                        "{} revisions are forbidden on {} and the policy has no emergency path",
                        revision.risk.as_str(),
                        env.name
                    )));
                };
                if !(caller.has(Role::Admin) || caller.has(Role::Approver)) {
                    return Err(ReleaseError::PermissionDenied(format!(
                        "the {what} is forbidden by the matrix; its emergency path takes approvals from admin and approver roles only; you hold {}",
                        holds(caller)
                    )));
                }
                if emergency.reason_required && decision.reason.trim().is_empty() {
                    return Err(ReleaseError::InvalidInput(format!(
                        "the {what} is forbidden by the matrix and can only pass the emergency path: give a written reason with --reason"
                    )));
                }
            }
        }
    } else {
        if !(caller.has(Role::Approver) || caller.has(Role::Admin)) {
            return Err(ReleaseError::PermissionDenied(format!(
                "rejecting needs the approver or admin role; you hold {}",
                holds(caller)
            )));
        }
        if decision.reason.trim().is_empty() {
            return Err(ReleaseError::InvalidInput(
                "a rejection needs a reason (--reason \"...\") so the author knows what to change"
                    .into(),
            ));
        }
    }

    let now = now_ms();
    let approval = Approval {
        id: release::new_id(),
        project: revision.project.clone(),
        revision_id: revision.id.clone(),
        environment: env.name.clone(),
        action: decision.action.as_str().to_string(),
        kind: if decision.approve {
            "approve"
        } else {
            "reject"
        }
        .to_string(),
        approver: caller.subject.clone(),
        approver_roles: caller.role_names(),
        revision_checksum: revision.checksum.clone(),
        policy_sha256: policy.sha256.clone(),
        reason: decision.reason.trim().to_string(),
        comment: decision.comment.trim().to_string(),
        created_at_ms: now,
        revoked: false,
        consumed: false,
        valid: true,
    };
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "UPDATE approvals SET revoked_at_ms = $1 WHERE project = $2 AND revision_id = $3 \
         AND environment = $4 AND action = $5 AND approver = $6 AND revoked_at_ms IS NULL AND consumed_at_ms IS NULL",
    )
    .bind(now)
    .bind(&approval.project)
    .bind(&approval.revision_id)
    .bind(&approval.environment)
    .bind(&approval.action)
    .bind(&approval.approver)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO approvals (id, project, revision_id, environment, action, kind, approver, approver_roles, \
         revision_checksum, policy_sha256, reason, comment, created_at_ms, revoked_at_ms, consumed_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL)",
    )
    .bind(&approval.id)
    .bind(&approval.project)
    .bind(&approval.revision_id)
    .bind(&approval.environment)
    .bind(&approval.action)
    .bind(&approval.kind)
    .bind(&approval.approver)
    .bind(approval.approver_roles.join(","))
    .bind(&approval.revision_checksum)
    .bind(&approval.policy_sha256)
    .bind(&approval.reason)
    .bind(&approval.comment)
    .bind(approval.created_at_ms)
    .execute(&mut *tx)
    .await?;
    audit::append(
        db,
        &mut tx,
        &Event {
            actor: &caller.subject,
            action: if decision.approve {
                "approval.approve"
            } else {
                "approval.reject"
            },
            project: &approval.project,
            environment: &approval.environment,
            subject: &approval.revision_id,
            outcome: Outcome::Ok,
            detail: format!(
                "action={} checksum={} policy_sha256={}{}",
                approval.action,
                approval.revision_checksum,
                approval.policy_sha256,
                if approval.reason.is_empty() {
                    String::new()
                } else {
                    format!(" reason={}", approval.reason)
                }
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(approval)
}

fn holds(caller: &Caller) -> String {
    match caller.role_names() {
        roles if roles.is_empty() => "no role".to_string(),
        roles => roles.join(", "),
    }
}

fn check_text(what: &str, text: &str) -> Result<(), ReleaseError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(ReleaseError::InvalidInput(format!(
            "the {what} is {} bytes; the limit is {MAX_TEXT_BYTES}",
            text.len()
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ReleaseError::InvalidInput(format!(
            "the {what} holds control characters"
        )));
    }
    Ok(())
}

/// Whose decision a revocation withdraws.
pub enum Whose<'a> {
    /// The caller's own.
    Own,
    /// Another person's (someone who has left, say), by an admin, with the
    /// reason on record.
    Of { approver: &'a str, reason: &'a str },
}

/// Withdraws an active decision: the caller's own, or another person's.
/// Refusals are audited too, as [`decide`]'s are.
#[allow(clippy::too_many_arguments)]
pub async fn revoke(
    db: &Db,
    policy: &Policy,
    caller: &Caller,
    project: &str,
    revision_id: &str,
    environment: &str,
    action: Action,
    whose: Whose<'_>,
) -> Result<Approval, ReleaseError> {
    let result = revoke_inner(
        db,
        policy,
        caller,
        project,
        revision_id,
        environment,
        action,
        whose,
    )
    .await;
    let target = (project, environment, revision_id);
    audit_refusal(db, caller, "approval.revoke", target, result).await
}

/// Audits `result` when it is a refusal of `action` on (project,
/// environment, revision), and passes it on. A failure of the catalog
/// itself is no refusal, and writing the audit row would likely fail the
/// same way.
async fn audit_refusal<T>(
    db: &Db,
    caller: &Caller,
    action: &str,
    (project, environment, subject): (&str, &str, &str),
    result: Result<T, ReleaseError>,
) -> Result<T, ReleaseError> {
    if let Err(err) = &result
        && !matches!(
            err,
            ReleaseError::Db(_) | ReleaseError::Catalog(catalog::CatalogError::Db(_))
        )
    {
        audit::record(
            db,
            &Event {
                actor: &caller.subject,
                action,
                project,
                environment,
                subject,
                outcome: Outcome::Refused,
                detail: err.to_string(),
            },
        )
        .await?;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn revoke_inner(
    db: &Db,
    policy: &Policy,
    caller: &Caller,
    project: &str,
    revision_id: &str,
    environment: &str,
    action: Action,
    whose: Whose<'_>,
) -> Result<Approval, ReleaseError> {
    let env = release::environment(policy, environment)?;
    catalog::validate_id(revision_id)?;
    let (approver, on_behalf) = match whose {
        Whose::Of { approver, reason } if approver != caller.subject => {
            if !caller.has(Role::Admin) {
                return Err(ReleaseError::PermissionDenied(format!(
                    "only an admin can revoke another person's decision ({approver}'s); {} can revoke only their own",
                    caller.subject
                )));
            }
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(ReleaseError::InvalidInput(format!(
                    "revoking {approver}'s decision needs a reason (--reason), kept in the audit log"
                )));
            }
            (approver, Some(reason))
        }
        _ => (caller.subject.as_str(), None),
    };
    let mut tx = db.pool.begin().await?;
    let row = sqlx::query(concat!(
        select_approvals!(),
        " WHERE project = $1 AND revision_id = $2 AND environment = $3 AND action = $4 \
          AND approver = $5 AND revoked_at_ms IS NULL AND consumed_at_ms IS NULL"
    ))
    .bind(project)
    .bind(revision_id)
    .bind(&env.name)
    .bind(action.as_str())
    .bind(approver)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(ReleaseError::NotFound(format!(
            "{approver} has no active decision on the {} of {revision_id} on {}{}",
            action.as_str(),
            env.name,
            match on_behalf {
                None =>
                    "; only your own decisions can be revoked, or, by an admin, another person's (--of <approver> --reason)",
                Some(_) => "",
            }
        )));
    };
    let mut approval = from_row(&row)?;
    sqlx::query("UPDATE approvals SET revoked_at_ms = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(&approval.id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        db,
        &mut tx,
        &Event {
            actor: &caller.subject,
            action: "approval.revoke",
            project,
            environment: &env.name,
            subject: revision_id,
            outcome: Outcome::Ok,
            detail: match on_behalf {
                None => format!("revoked {} for {}", approval.kind, approval.action),
                Some(reason) => format!(
                    "revoked {}'s {} for {}: {reason}",
                    approval.approver,
                    match approval.kind.as_str() {
                        "reject" => "rejection",
                        _ => "approval",
                    },
                    approval.action
                ),
            },
        },
    )
    .await?;
    tx.commit().await?;
    approval.revoked = true;
    approval.valid = false;
    Ok(approval)
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Approval, sqlx::Error> {
    let roles: String = row.try_get(7)?;
    Ok(Approval {
        id: row.try_get(0)?,
        project: row.try_get(1)?,
        revision_id: row.try_get(2)?,
        environment: row.try_get(3)?,
        action: row.try_get(4)?,
        kind: row.try_get(5)?,
        approver: row.try_get(6)?,
        approver_roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect(),
        revision_checksum: row.try_get(8)?,
        policy_sha256: row.try_get(9)?,
        reason: row.try_get(10)?,
        comment: row.try_get(11)?,
        created_at_ms: row.try_get(12)?,
        revoked: row.try_get::<Option<i64>, _>(13)?.is_some(),
        consumed: row.try_get::<Option<i64>, _>(14)?.is_some(),
        valid: false,
    })
}

/// Every decision on a revision, oldest first, each marked valid or not.
pub async fn list(
    db: &Db,
    policy: &Policy,
    project: &str,
    revision_id: &str,
    environment: Option<&str>,
) -> Result<Vec<Approval>, ReleaseError> {
    if let Some(env) = environment {
        release::environment(policy, env)?;
    }
    let revision = catalog::get(db, project, revision_id).await?;
    let rows = sqlx::query(concat!(
        select_approvals!(),
        " WHERE project = $1 AND revision_id = $2 AND ($3 = '' OR environment = $3) ORDER BY created_at_ms, id"
    ))
    .bind(project)
    .bind(revision_id)
    .bind(environment.unwrap_or_default())
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let mut approval = from_row(row)?;
            approval.valid = counts(&approval, &revision, policy);
            Ok(approval)
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(ReleaseError::Db)
}

/// Whether a decision still counts. An approval is bound to the revision's
/// checksum and the policy file's sha256; a rejection only to the checksum:
/// editing the policy file (and restarting the server) must not lift a
/// rejection nobody revoked. Content the rejection was not given for (an
/// amended revision) is judged afresh.
fn counts(approval: &Approval, revision: &Revision, policy: &Policy) -> bool {
    !approval.revoked
        && !approval.consumed
        && approval.revision_checksum == revision.checksum
        && (approval.kind == "reject" || approval.policy_sha256 == policy.sha256)
}

/// Whether the matrix is satisfied, with the reason a person reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub satisfied: bool,
    pub reason: String,
}

/// Evaluates the matrix for `action` on `revision` in `env` from the
/// decisions that still count (and the approvals a rollback or a restore
/// used up, which the reason names).
pub async fn evaluate(
    db: &Db,
    policy: &Policy,
    env: &Environment,
    revision: &Revision,
    action: Action,
) -> Result<Evaluation, sqlx::Error> {
    let rows = sqlx::query(concat!(
        select_approvals!(),
        " WHERE project = $1 AND revision_id = $2 AND environment = $3 AND action = $4 \
          AND revoked_at_ms IS NULL ORDER BY created_at_ms, id"
    ))
    .bind(&revision.project)
    .bind(&revision.id)
    .bind(&env.name)
    .bind(action.as_str())
    .fetch_all(&db.pool)
    .await?;
    let decisions = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(judge(policy, env, revision, action, &decisions))
}

/// The matrix rule itself, over the decisions not revoked; those a rollback
/// or a restore used up count only towards the reason.
pub fn judge(
    policy: &Policy,
    env: &Environment,
    revision: &Revision,
    action: Action,
    decisions: &[Approval],
) -> Evaluation {
    let (used, unused): (Vec<&Approval>, Vec<&Approval>) =
        decisions.iter().partition(|a| a.consumed);
    let (current, void): (Vec<&Approval>, Vec<&Approval>) = unused
        .into_iter()
        .partition(|a| counts(a, revision, policy));
    let mut notes = match void.len() {
        0 => String::new(),
        n => {
            format!("; {n} earlier decision(s) void: given for another checksum or policy version")
        }
    };
    match used.iter().filter(|a| a.kind == "approve").count() {
        0 => {}
        n => notes.push_str(&format!(
            "; {n} earlier approval(s) used up by a rollback or restore on {}: only approvals given since count",
            env.name
        )),
    }
    if let Some(reject) = current.iter().find(|a| a.kind == "reject") {
        return Evaluation {
            satisfied: false,
            reason: format!(
                "rejected by {}: {} (blocks until revoked)",
                reject.approver, reject.reason
            ),
        };
    }
    let approvals: Vec<&Approval> = current
        .iter()
        .copied()
        .filter(|a| {
            a.kind == "approve" && auth::person(&a.approver) != auth::person(&revision.author)
        })
        .collect();
    let has = |a: &Approval, role: &str| a.approver_roles.iter().any(|r| r == role);
    match requirement(env, revision, action) {
        Requirement::Approvals { count, roles } => {
            // One approval per person, however their name is written.
            let names: BTreeMap<String, &str> = approvals
                .iter()
                .filter(|a| roles.iter().any(|r| has(a, r)))
                .map(|a| (auth::person(&a.approver), a.approver.as_str()))
                .collect();
            let given = names.len() as u32;
            let who = if names.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    names.values().copied().collect::<Vec<_>>().join(", ")
                )
            };
            Evaluation {
                satisfied: given >= *count,
                reason: format!(
                    "{given} of {count} {} approval(s) from {} for {}{who}{}{notes}",
                    action_noun(action, revision),
                    roles.join(" or "),
                    env.name,
                    if given >= *count {
                        String::new()
                    } else {
                        format!("; {} more needed", count - given)
                    }
                ),
            }
        }
        Requirement::Forbidden => {
            let Some(emergency) = &policy.emergency else {
                return Evaluation {
                    satisfied: false,
                    reason: format!(
                        "{} is forbidden on {} and the policy has no emergency path",
                        action_noun(action, revision),
                        env.name
                    ),
                };
            };
            let reasoned = |a: &Approval| !emergency.reason_required || !a.reason.is_empty();
            // Each person fills one seat. Someone who holds both roles takes
            // an admin seat only when the admins alone leave one empty.
            // A person approving under two spellings of their name, with
            // different roles, holds the roles of both.
            let mut people: BTreeMap<String, (bool, bool)> = BTreeMap::new();
            for a in approvals.iter().filter(|a| reasoned(a)) {
                let roles = people.entry(auth::person(&a.approver)).or_default();
                roles.0 |= has(a, "admin");
                roles.1 |= has(a, "approver");
            }
            let count = |admin: bool, approver: bool| {
                people
                    .values()
                    .filter(|(a, p)| *a == admin && *p == approver)
                    .count() as u32
            };
            let (only_admins, only_approvers, both) =
                (count(true, false), count(false, true), count(true, true));
            let both_as_admins = emergency.admins.saturating_sub(only_admins).min(both);
            let admins = only_admins + both_as_admins;
            let approvers = only_approvers + (both - both_as_admins);
            let satisfied = admins >= emergency.admins && approvers >= emergency.approvers;
            Evaluation {
                satisfied,
                reason: format!(
                    "{} is forbidden by the matrix on {}; emergency path: {}/{} admin and {}/{} approver approvals{}{notes}",
                    action_noun(action, revision),
                    env.name,
                    admins,
                    emergency.admins,
                    approvers,
                    emergency.approvers,
                    if emergency.reason_required {
                        " with a written reason"
                    } else {
                        ""
                    }
                ),
            }
        }
    }
}

fn action_noun(action: Action, revision: &Revision) -> String {
    match action {
        Action::Apply => format!("{} revision", revision.risk.as_str()),
        Action::Rollback => "rollback".to_string(),
    }
}

/// Marks the approvals to apply every revision after the one at sequence
/// `restored_sequence` on `environment` as used, once a target restored
/// from a backup was recorded at that revision: the revisions the restore
/// took off the target go out again only on fresh sign-off, and so do
/// those that were still pending there, whose approvals were given for a
/// target the restore changed. Approvals given after `started_at_ms`, and
/// rejections, stand. Returns how many were used up.
pub async fn use_up_after_restore(
    conn: &mut AnyConnection,
    project: &str,
    environment: &str,
    restored_sequence: i64,
    started_at_ms: i64,
) -> Result<u64, sqlx::Error> {
    let used_up = sqlx::query(
        "UPDATE approvals SET consumed_at_ms = $1 WHERE project = $2 AND environment = $3 \
         AND action = 'apply' AND kind = 'approve' AND revoked_at_ms IS NULL AND consumed_at_ms IS NULL \
         AND created_at_ms <= $4 \
         AND revision_id IN (SELECT id FROM revisions WHERE project = $2 AND sequence > $5)",
    )
    .bind(now_ms())
    .bind(project)
    .bind(environment)
    .bind(started_at_ms)
    .bind(restored_sequence)
    .execute(&mut *conn)
    .await?;
    Ok(used_up.rows_affected())
}

/// Marks a revision's decisions on `environment` as used once its rollback
/// ran: the rollback decisions, so rolling it back again needs fresh
/// sign-off, and the approvals to apply it, so it does not go out again on
/// the approvals given before the rollback (the next deploy of the
/// environment would otherwise run it again at once). Rejections to apply
/// it keep blocking, and decisions given after the rollback started
/// (`started_at_ms`) stand. Returns how many were used up.
pub async fn use_up_after_rollback(
    conn: &mut AnyConnection,
    project: &str,
    revision_id: &str,
    environment: &str,
    started_at_ms: i64,
) -> Result<u64, sqlx::Error> {
    let used_up = sqlx::query(
        "UPDATE approvals SET consumed_at_ms = $1 WHERE project = $2 AND revision_id = $3 \
         AND environment = $4 AND (action = 'rollback' OR (action = 'apply' AND kind = 'approve')) \
         AND revoked_at_ms IS NULL AND consumed_at_ms IS NULL AND created_at_ms <= $5",
    )
    .bind(now_ms())
    .bind(project)
    .bind(revision_id)
    .bind(environment)
    .bind(started_at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(used_up.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::LintRecord;

    const EXAMPLE: &str = include_str!("../../examples/schemagate.toml");

    fn destructive() -> Revision {
        Revision {
            project: "default".into(),
            id: "0002_drop_venues".into(),
            parent_id: "0001_baseline".into(),
            sequence: 2,
            up_sql: "DROP TABLE venues;".into(),
            down_sql: String::new(),
            description: String::new(),
            author: "alice".into(),
            created_at_ms: 0,
            checksum: "c".into(),
            risk: RiskClass::Destructive,
            lint: LintRecord {
                statements: 1,
                transactional: true,
                findings: Vec::new(),
            },
        }
    }

    fn approval(policy: &Policy, who: &str, roles: &[&str], reason: &str) -> Approval {
        Approval {
            id: who.into(),
            project: "default".into(),
            revision_id: "0002_drop_venues".into(),
            environment: "dev".into(),
            action: "apply".into(),
            kind: "approve".into(),
            approver: who.into(),
            approver_roles: roles.iter().map(|r| r.to_string()).collect(),
            revision_checksum: "c".into(),
            policy_sha256: policy.sha256.clone(),
            reason: reason.into(),
            comment: String::new(),
            created_at_ms: 0,
            revoked: false,
            consumed: false,
            valid: true,
        }
    }

    #[test]
    fn someone_with_both_roles_fills_the_seat_left_empty() {
        let policy = Policy::parse("p.toml", EXAMPLE).unwrap();
        let env = policy.environment("dev").unwrap();
        let judged =
            |decisions: &[Approval]| judge(&policy, env, &destructive(), Action::Apply, decisions);
        // An admin, an admin who is also an approver, and an approver: the
        // second sits as an approver.
        let three = [
            approval(&policy, "root", &["admin"], "GDPR"),
            approval(&policy, "gina", &["admin", "approver"], "GDPR"),
            approval(&policy, "carol", &["approver"], "GDPR"),
        ];
        let verdict = judged(&three);
        assert!(verdict.satisfied, "{}", verdict.reason);
        assert!(
            verdict.reason.contains("1/1 admin and 2/2 approver"),
            "{}",
            verdict.reason
        );
        // Without the plain admin, gina takes the admin seat and one
        // approver is missing.
        let verdict = judged(&three[1..]);
        assert!(!verdict.satisfied, "{}", verdict.reason);
        assert!(
            verdict.reason.contains("1/1 admin and 1/2 approver"),
            "{}",
            verdict.reason
        );
        // A rejection blocks whatever the seats.
        let mut rejected = three.to_vec();
        let mut reject = approval(&policy, "dave", &["approver"], "no");
        reject.kind = "reject".into();
        reject.policy_sha256 = "an older policy file".into();
        rejected.push(reject);
        let verdict = judged(&rejected);
        assert!(!verdict.satisfied, "{}", verdict.reason);
        assert!(
            verdict.reason.contains("rejected by dave"),
            "{}",
            verdict.reason
        );
    }
}
