//! The release commands: approvals, the gate, gated execution, onboarding and
//! drift, freezes and deployment windows. The server holds the target
//! credentials and decides; these commands ask, follow and report.

use super::{
    Cli, Failure, Outcome, connect, print_json, risk_text, text_json, time_json, time_text,
};
use clap::Subcommand;
use schemagate_client::table::{self, or_dash};
use schemagate_client::{exit, token, v1};
use serde_json::{Value, json};

/// The longest deployment window `open-window` asks for.
const MAX_WINDOW_SECONDS: i64 = 7 * 86_400;

#[derive(Subcommand)]
pub enum Command {
    /// Approve a revision for an environment (a role the approval matrix names; never your own revision).
    #[command(
        after_help = "The approval is bound to the revision's checksum and the policy's sha256: if either changes, it stops counting. How many approvals an environment needs, and from which roles, is the policy's approval matrix (see `sgctl policy --source`). A destructive revision where the matrix forbids it takes the emergency path: an admin's approval plus approvers', each with --reason.\n\nExample:\n  sgctl approve 0002_add_kegs --env pilot --comment \"checked on ci\"\n  sgctl approve 0002_add_kegs --env pilot --rollback"
    )]
    Approve {
        /// Revision id, e.g. 0002_add_kegs.
        revision: String,
        /// Environment the approval is for.
        #[arg(long)]
        env: String,
        /// A note kept with the approval.
        #[arg(long)]
        comment: Option<String>,
        /// Why: required on the emergency path for destructive revisions.
        #[arg(long)]
        reason: Option<String>,
        /// Approve rolling the revision back (running its down SQL) instead of deploying it.
        #[arg(long)]
        rollback: bool,
    },
    /// Reject a revision for an environment: it is blocked there until you revoke the rejection.
    #[command(
        after_help = "Example:\n  sgctl reject 0003_drop_legacy --env pilot --reason \"drops a column the pilot app still reads\""
    )]
    Reject {
        /// Revision id.
        revision: String,
        /// Environment the rejection is for.
        #[arg(long)]
        env: String,
        /// Why: shown to everyone the rejection blocks.
        #[arg(long)]
        reason: String,
        /// Reject rolling the revision back instead of deploying it.
        #[arg(long)]
        rollback: bool,
    },
    /// Withdraw your own approval or rejection of a revision for an environment (an admin: another person's, with --of and --reason).
    #[command(
        after_help = "An admin can withdraw another person's decision, for instance the rejection of someone who has left, which otherwise blocks the revision until it is amended: --of names whose, --reason says why (kept in the audit log).\n\nExamples:\n  sgctl revoke 0002_add_kegs --env pilot\n  sgctl revoke 0002_add_kegs --env pilot --of dave --reason \"dave left in May; OPS-31\""
    )]
    Revoke {
        /// Revision id.
        revision: String,
        /// Environment the approval or rejection was for.
        #[arg(long)]
        env: String,
        /// Withdraw the one given for rolling the revision back.
        #[arg(long)]
        rollback: bool,
        /// Whose decision to withdraw, when not your own (needs the admin role and --reason).
        #[arg(long, value_name = "APPROVER", requires = "reason")]
        of: Option<String>,
        /// Why another person's decision is withdrawn.
        #[arg(long, requires = "of")]
        reason: Option<String>,
    },
    /// List the approvals and rejections of a revision, revoked and voided ones included.
    #[command(
        after_help = "VALID is no once the decision no longer counts: the revision's checksum or the policy changed since it was given, or a rollback or a restore of the environment used it up.\n\nExample:\n  sgctl approvals 0002_add_kegs --env pilot"
    )]
    Approvals {
        /// Revision id.
        revision: String,
        /// Only this environment (default: all).
        #[arg(long)]
        env: Option<String>,
    },
    /// Check the release gate: may this revision run on this environment now, and if not, why not.
    #[command(
        after_help = "Conditions: approvals, parent (the revision's parent is the target's current revision), promotion (it ran on the previous environment), window, freeze, drift, exclusive (no other execution holds the target).\nA condition reads pass, FAIL, or not checked when nothing could be read to judge it (the target is unreachable, or another execution is changing it).\nExit 0 when the gate is open, 1 when it is closed, 3 when it is closed because the target cannot be reached.\n\nExample:\n  sgctl gate 0002_add_kegs --env pilot\n  sgctl gate 0002_add_kegs --env pilot --rollback"
    )]
    Gate {
        /// Revision id.
        revision: String,
        /// Environment to check.
        #[arg(long)]
        env: String,
        /// The gate for rolling the revision back (it must be the target's current revision).
        #[arg(long)]
        rollback: bool,
    },
    /// Deploy: run the pending revisions on an environment's target, in order, re-checking the gate for each.
    #[command(
        after_help = "Prints each step as the server reports it: [step] revision: message, with the state once it is no longer running. With --json, one JSON object per line. Exit 0 only when the last step succeeded; 1 when the gate refused or a statement failed (also said on stderr, and with --json as a last {\"error\"} line); 3 when the server or the target is unavailable, or the server stopped before the next revision; 130 or 143 when sgctl is interrupted (SIGINT, SIGTERM): the server finishes the revision it is running, runs no other, and runs none at all if it has not started one (a backup in progress is kept).\n\nExample:\n  sgctl deploy --env pilot\n  sgctl deploy --env pilot --to 0003_add_tap_label"
    )]
    Deploy {
        /// Target environment.
        #[arg(long)]
        env: String,
        /// Stop after this revision (default: the head).
        #[arg(long, value_name = "REVISION")]
        to: Option<String>,
    },
    /// Roll back the target's current revision by running its down SQL (needs rollback approvals).
    #[command(
        after_help = "Output and exit codes as for deploy.\n\nExample:\n  sgctl gate 0003_add_tap_label --env pilot --rollback\n  sgctl rollback --env pilot"
    )]
    Rollback {
        /// Target environment.
        #[arg(long)]
        env: String,
    },
    /// Show an environment: its current revision, whether its window is open and whether it is frozen, what is pending and what blocks it, recent executions.
    #[command(
        after_help = "The current revision is read from the target's version table. The window and freeze lines are the gate's conditions for a deploy there now; each pending revision's GATE lists the conditions that fail for it.\n\nWhen the target cannot be read, the current revision and what is pending are shown as unknown, with the reason, and the rest (window, freeze, recent executions) comes from the catalog all the same; the exit code is then 3 if the target did not answer, 1 if the server has no usable URL for it.\n\nExample:\n  sgctl status --env pilot"
    )]
    Status {
        /// Environment.
        #[arg(long)]
        env: String,
    },
    /// Show one execution: state, times, statements run, backup and schema fingerprint.
    #[command(after_help = "Example:\n  sgctl execution 01938c2e-7a4b-7c3d-9e8f-0a1b2c3d4e5f")]
    Execution {
        /// Execution id, as printed by `sgctl status`.
        id: String,
    },
    /// Onboard an existing database: record that its target is at a revision, after checking its schema matches.
    #[command(
        after_help = "The server compares the live schema with the schema the lineage expects at --revision and writes the version row only when they match. When they differ it refuses and prints the differences (exit 1). An admin may --force past them with a --reason; the stamp is recorded as forced.\n\nAfter restoring a backup, the target's version table (restored with it) names the revision it was at, and the drift check reports that Schemagate recorded no schema for it. --restored runs the same check against that revision and records it, without touching the version table.\n\nExample:\n  sgctl stamp --env pilot --revision 0004_add_tap_label\n  sgctl stamp --env pilot --revision 0004_add_tap_label --force --reason \"index renamed by hand in 2024, harmless\"\n  sgctl stamp --env pilot --revision 0003_add_controller_firmware --restored"
    )]
    Stamp {
        /// Environment whose target to stamp.
        #[arg(long)]
        env: String,
        /// The revision the target's schema is at.
        #[arg(long, value_name = "ID")]
        revision: String,
        /// Stamp even when the schema differs (admin only; needs --reason).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why forcing is safe; recorded in the audit log.
        #[arg(long, requires = "force")]
        reason: Option<String>,
        /// The target was restored from a backup and its version table already names --revision:
        /// check its schema the same way and record it, keeping the version table as it is.
        #[arg(long)]
        restored: bool,
    },
    /// Compare an environment's live schema with the schema its current revision expects.
    #[command(
        after_help = "Exit 0 when they match, 1 on drift.\n\nExample:\n  sgctl drift --env pilot"
    )]
    Drift {
        /// Environment.
        #[arg(long)]
        env: String,
    },
    /// Freeze an environment: nothing deploys there until it is unfrozen (admin only).
    #[command(
        after_help = "Example:\n  sgctl freeze --env pilot --reason \"pilot venue event this weekend\""
    )]
    Freeze {
        /// Environment.
        #[arg(long)]
        env: String,
        /// Why; recorded in the audit log and shown by the gate.
        #[arg(long)]
        reason: String,
    },
    /// Lift a freeze (admin only).
    #[command(after_help = "Example:\n  sgctl unfreeze --env pilot --reason \"event over\"")]
    Unfreeze {
        /// Environment.
        #[arg(long)]
        env: String,
        /// Why; recorded in the audit log.
        #[arg(long)]
        reason: String,
    },
    /// Open a one-off deployment window outside the environment's regular windows (admin only).
    #[command(
        after_help = "The window closes by itself after --for (at most 7d).\n\nExample:\n  sgctl open-window --env pilot --for 2h --reason \"hotfix for the keg sensor\""
    )]
    OpenWindow {
        /// Environment.
        #[arg(long)]
        env: String,
        /// Why; recorded in the audit log.
        #[arg(long)]
        reason: String,
        /// How long the window stays open, e.g. 30m, 2h, 1h30m, 1d (at most 7d).
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
    },
}

pub async fn run(cli: &Cli, command: &Command) -> Outcome {
    match command {
        Command::Approve {
            revision,
            env,
            comment,
            reason,
            rollback,
        } => {
            approve(
                cli,
                revision,
                env,
                comment.as_deref(),
                reason.as_deref(),
                *rollback,
            )
            .await
        }
        Command::Reject {
            revision,
            env,
            reason,
            rollback,
        } => reject(cli, revision, env, reason, *rollback).await,
        Command::Revoke {
            revision,
            env,
            rollback,
            of,
            reason,
        } => {
            let of = of.as_deref().zip(reason.as_deref());
            revoke(cli, revision, env, *rollback, of).await
        }
        Command::Approvals { revision, env } => approvals(cli, revision, env.as_deref()).await,
        Command::Gate {
            revision,
            env,
            rollback,
        } => gate(cli, revision, env, *rollback).await,
        Command::Deploy { env, to } => deploy(cli, env, to.as_deref()).await,
        Command::Rollback { env } => rollback(cli, env).await,
        Command::Status { env } => status(cli, env).await,
        Command::Execution { id } => execution(cli, id).await,
        Command::Stamp {
            env,
            revision,
            force,
            reason,
            restored,
        } => stamp(cli, env, revision, *force, reason.as_deref(), *restored).await,
        Command::Drift { env } => drift(cli, env).await,
        Command::Freeze { env, reason } => freeze(cli, env, reason, true).await,
        Command::Unfreeze { env, reason } => freeze(cli, env, reason, false).await,
        Command::OpenWindow {
            env,
            reason,
            duration,
        } => open_window(cli, env, reason, duration).await,
    }
}

// ---- text helpers ----

/// The first 8 characters of a hash and an ellipsis.
fn short(hash: &str) -> String {
    if hash.is_empty() {
        return "none".into();
    }
    if hash.chars().count() <= 8 {
        return hash.to_string();
    }
    let head: String = hash.chars().take(8).collect();
    format!("{head}…")
}

fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.into()
}

fn action_text(rollback: bool) -> &'static str {
    if rollback { "rollback" } else { "apply" }
}

fn kind_text(kind: i32) -> &'static str {
    match v1::ApprovalKind::try_from(kind) {
        Ok(v1::ApprovalKind::Approve) => "approve",
        Ok(v1::ApprovalKind::Reject) => "reject",
        _ => "unknown",
    }
}

fn state_of(state: i32) -> v1::ExecutionState {
    v1::ExecutionState::try_from(state).unwrap_or(v1::ExecutionState::Unspecified)
}

fn state_text(state: i32) -> &'static str {
    match state_of(state) {
        v1::ExecutionState::Running => "running",
        v1::ExecutionState::Succeeded => "succeeded",
        v1::ExecutionState::Failed => "failed",
        v1::ExecutionState::Refused => "refused",
        v1::ExecutionState::Queued => "queued",
        v1::ExecutionState::Unspecified => "unknown",
    }
}

fn seconds_between(
    start: Option<&prost_types::Timestamp>,
    end: Option<&prost_types::Timestamp>,
) -> Option<f64> {
    let (start, end) = (start?, end?);
    let millis =
        (end.seconds - start.seconds) * 1000 + i64::from(end.nanos - start.nanos) / 1_000_000;
    (millis >= 0).then(|| millis as f64 / 1000.0)
}

/// 0.4s, 12.0s, 3m04s, 1h02m.
fn duration_text(record: &v1::ExecutionRecord) -> String {
    let Some(seconds) = seconds_between(record.started_at.as_ref(), record.finished_at.as_ref())
    else {
        return "-".into();
    };
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let whole = seconds as u64;
    if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, (whole % 3600) / 60)
    }
}

/// The first line of a possibly multi-line message, for a table cell.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if text.lines().nth(1).is_some() {
        format!("{line} …")
    } else {
        or_dash(line)
    }
}

// ---- approvals ----

fn approval_json(a: &v1::ApprovalRecord) -> Value {
    json!({
        "project": a.project,
        "revision_id": a.revision_id,
        "environment": a.environment,
        "kind": kind_text(a.kind),
        "action": action_text(a.rollback),
        "rollback": a.rollback,
        "approver": a.approver,
        "approver_roles": a.approver_roles,
        "revision_checksum": a.revision_checksum,
        "policy_sha256": a.policy_sha256,
        "reason": text_json(&a.reason),
        "comment": text_json(&a.comment),
        "created_at": time_json(a.created_at.as_ref()),
        "revoked": a.revoked,
        "valid": a.valid,
        "used_up": a.used_up,
    })
}

/// `0002_add_kegs` or `rollback of 0002_add_kegs`.
fn subject(revision: &str, rollback: bool) -> String {
    if rollback {
        format!("rollback of {revision}")
    } else {
        revision.to_string()
    }
}

/// Prints a record returned by approve, reject or revoke.
fn report_approval(cli: &Cli, verb: &str, record: &v1::ApprovalRecord) {
    if cli.json {
        print_json(&approval_json(record));
        return;
    }
    let mut line = format!(
        "{verb} {} for {}",
        subject(&record.revision_id, record.rollback),
        record.environment
    );
    if verb == "rejected" && !record.reason.is_empty() {
        line.push_str(&format!(": {}", record.reason));
    }
    line.push_str(&format!(
        " (checksum {}, policy {})",
        short(&record.revision_checksum),
        short(&record.policy_sha256)
    ));
    println!("{line}");
}

/// The server's record, with what was asked for filled in where it left a field empty.
fn fill(
    mut record: v1::ApprovalRecord,
    revision: &str,
    env: &str,
    rollback: bool,
) -> v1::ApprovalRecord {
    if record.revision_id.is_empty() {
        record.revision_id = revision.to_string();
    }
    if record.environment.is_empty() {
        record.environment = env.to_string();
    }
    record.rollback |= rollback;
    record
}

async fn approve(
    cli: &Cli,
    revision: &str,
    env: &str,
    comment: Option<&str>,
    reason: Option<&str>,
    rollback: bool,
) -> Outcome {
    let connection = connect(cli).await?;
    let record = connection
        .approvals()
        .approve(v1::ApproveRequest {
            project: cli.project.clone(),
            revision_id: revision.to_string(),
            environment: env.to_string(),
            comment: comment.unwrap_or_default().to_string(),
            reason: reason.unwrap_or_default().to_string(),
            rollback,
        })
        .await?
        .into_inner();
    report_approval(cli, "approved", &fill(record, revision, env, rollback));
    Ok(exit::OK)
}

async fn reject(cli: &Cli, revision: &str, env: &str, reason: &str, rollback: bool) -> Outcome {
    let connection = connect(cli).await?;
    let record = connection
        .approvals()
        .reject(v1::RejectRequest {
            project: cli.project.clone(),
            revision_id: revision.to_string(),
            environment: env.to_string(),
            reason: reason.to_string(),
            rollback,
        })
        .await?
        .into_inner();
    report_approval(cli, "rejected", &fill(record, revision, env, rollback));
    Ok(exit::OK)
}

/// `of`: whose decision, with the reason, when not the caller's own.
async fn revoke(
    cli: &Cli,
    revision: &str,
    env: &str,
    rollback: bool,
    of: Option<(&str, &str)>,
) -> Outcome {
    let connection = connect(cli).await?;
    let (approver, reason) = of.unwrap_or_default();
    let record = connection
        .approvals()
        .revoke(v1::RevokeRequest {
            project: cli.project.clone(),
            revision_id: revision.to_string(),
            environment: env.to_string(),
            rollback,
            approver: approver.to_string(),
            reason: reason.to_string(),
        })
        .await?
        .into_inner();
    let record = fill(record, revision, env, rollback);
    if cli.json {
        print_json(&approval_json(&record));
    } else {
        let what = match v1::ApprovalKind::try_from(record.kind) {
            Ok(v1::ApprovalKind::Reject) => "rejection",
            _ => "approval",
        };
        println!(
            "revoked {}{what} of {} for {}",
            match of {
                Some((approver, _)) => format!("{approver}'s "),
                None => String::new(),
            },
            subject(&record.revision_id, record.rollback),
            record.environment
        );
    }
    Ok(exit::OK)
}

async fn approvals(cli: &Cli, revision: &str, env: Option<&str>) -> Outcome {
    let connection = connect(cli).await?;
    let approvals = connection
        .approvals()
        .list_approvals(v1::ListApprovalsRequest {
            project: cli.project.clone(),
            revision_id: revision.to_string(),
            environment: env.unwrap_or_default().to_string(),
        })
        .await?
        .into_inner()
        .approvals;
    if cli.json {
        print_json(&Value::Array(approvals.iter().map(approval_json).collect()));
        return Ok(exit::OK);
    }
    if approvals.is_empty() {
        println!(
            "no approvals or rejections of {revision}{}",
            env.map(|e| format!(" for {e}")).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = approvals
        .iter()
        .map(|a| {
            let note: Vec<&str> = [a.reason.as_str(), a.comment.as_str()]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect();
            vec![
                a.environment.clone(),
                kind_text(a.kind).into(),
                action_text(a.rollback).into(),
                a.approver.clone(),
                or_dash(&a.approver_roles.join(",")),
                if a.used_up {
                    "no (used up)".into()
                } else {
                    yes_no(a.valid)
                },
                yes_no(a.revoked),
                time_text(a.created_at.as_ref()),
                or_dash(&note.join(" / ")),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "ENV",
                "KIND",
                "FOR",
                "APPROVER",
                "ROLES",
                "VALID",
                "REVOKED",
                "AT",
                "REASON/COMMENT"
            ],
            &rows
        )
    );
    Ok(exit::OK)
}

// ---- the gate ----

fn verdict_json(v: &v1::GateVerdict) -> Value {
    json!({
        "open": v.open,
        "revision_id": v.revision_id,
        "environment": v.environment,
        "action": v.action,
        "risk": risk_text(v.risk),
        "target_unreachable": v.target_unreachable,
        "conditions": v.conditions.iter().map(|c| json!({
            "name": c.name, "passed": c.passed, "not_checked": c.not_checked, "reason": c.reason,
        })).collect::<Vec<_>>(),
    })
}

async fn check_gate(
    connection: &schemagate_client::connect::Connection,
    cli: &Cli,
    revision: &str,
    env: &str,
    rollback: bool,
) -> Result<v1::GateVerdict, tonic::Status> {
    let mut verdict = connection
        .gate()
        .check_gate(v1::CheckGateRequest {
            project: cli.project.clone(),
            revision_id: revision.to_string(),
            environment: env.to_string(),
            rollback,
        })
        .await?
        .into_inner();
    if verdict.revision_id.is_empty() {
        verdict.revision_id = revision.to_string();
    }
    if verdict.environment.is_empty() {
        verdict.environment = env.to_string();
    }
    if verdict.action.is_empty() {
        verdict.action = action_text(rollback).to_string();
    }
    Ok(verdict)
}

/// `open`, or `closed: ` and the names of the failing conditions.
fn verdict_summary(v: &v1::GateVerdict) -> String {
    if v.open {
        return "open".into();
    }
    let names = |not_checked: bool| {
        v.conditions
            .iter()
            .filter(|c| !c.passed && c.not_checked == not_checked)
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (failing, unknown) = (names(false), names(true));
    match (failing.is_empty(), unknown.is_empty()) {
        (true, true) => "closed".into(),
        (false, true) => format!("closed: {failing}"),
        (true, false) => format!("closed: not checked {unknown}"),
        (false, false) => format!("closed: {failing}; not checked {unknown}"),
    }
}

async fn gate(cli: &Cli, revision: &str, env: &str, rollback: bool) -> Outcome {
    let connection = connect(cli).await?;
    let verdict = check_gate(&connection, cli, revision, env, rollback).await?;
    let code = if verdict.open {
        exit::OK
    } else if verdict.target_unreachable {
        // An outage, not a refusal: a pipeline may retry it.
        exit::UNAVAILABLE
    } else {
        exit::REFUSED
    };
    if cli.json {
        print_json(&verdict_json(&verdict));
        return Ok(code);
    }
    println!(
        "gate for {} of {} on {} (risk {}): {}",
        verdict.action,
        verdict.revision_id,
        verdict.environment,
        risk_text(verdict.risk),
        if verdict.open { "OPEN" } else { "CLOSED" }
    );
    if !verdict.conditions.is_empty() {
        let rows: Vec<Vec<String>> = verdict
            .conditions
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    match (c.passed, c.not_checked) {
                        (true, _) => "pass",
                        (false, false) => "FAIL",
                        (false, true) => "not checked",
                    }
                    .into(),
                    or_dash(&c.reason),
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(&["CONDITION", "RESULT", "REASON"], &rows)
        );
    }
    Ok(code)
}

async fn freeze(cli: &Cli, env: &str, reason: &str, frozen: bool) -> Outcome {
    let connection = connect(cli).await?;
    let request = v1::FreezeRequest {
        environment: env.to_string(),
        reason: reason.to_string(),
    };
    let mut gate = connection.gate();
    let response = if frozen {
        gate.freeze(request).await?
    } else {
        gate.unfreeze(request).await?
    }
    .into_inner();
    let environment = if response.environment.is_empty() {
        env
    } else {
        &response.environment
    };
    if cli.json {
        print_json(&json!({
            "environment": environment,
            "frozen": response.frozen,
            "reason": text_json(&response.reason),
        }));
    } else if response.frozen {
        println!("{environment} is frozen: {}", response.reason);
    } else {
        println!("{environment} is not frozen");
    }
    Ok(exit::OK)
}

async fn open_window(cli: &Cli, env: &str, reason: &str, duration: &str) -> Outcome {
    let seconds = token::parse_duration(duration)
        .map_err(|e| Failure::new(exit::BAD_INPUT, format!("--for: {e}")))?;
    if seconds <= 0 {
        return Err(Failure::new(
            exit::BAD_INPUT,
            format!("--for {duration}: a window must stay open for some time, e.g. 30m"),
        ));
    }
    if seconds > MAX_WINDOW_SECONDS {
        return Err(Failure::new(
            exit::BAD_INPUT,
            format!(
                "--for {duration}: a one-off window lasts at most 7d; change the environment's windows in the policy file instead"
            ),
        ));
    }
    let expires_at = prost_types::Timestamp {
        seconds: time::OffsetDateTime::now_utc().unix_timestamp() + seconds,
        nanos: 0,
    };
    let connection = connect(cli).await?;
    let response = connection
        .gate()
        .open_window(v1::OpenWindowRequest {
            environment: env.to_string(),
            reason: reason.to_string(),
            expires_at: Some(expires_at),
        })
        .await?
        .into_inner();
    let environment = if response.environment.is_empty() {
        env
    } else {
        &response.environment
    };
    let until = time_text(response.expires_at.as_ref().or(Some(&expires_at)));
    if cli.json {
        print_json(&json!({
            "environment": environment,
            "expires_at": until,
            "replaced": text_json(&response.replaced),
        }));
    } else {
        println!("deployment window open on {environment} until {until}");
        if !response.replaced.is_empty() {
            println!("it replaces {}", response.replaced);
        }
    }
    Ok(exit::OK)
}

// ---- execution ----

fn event_json(e: &v1::ExecutionEvent) -> Value {
    json!({
        "execution_id": text_json(&e.execution_id),
        "step": e.step,
        "revision_id": text_json(&e.revision_id),
        "message": e.message,
        "state": state_text(e.state),
        "statements_run": e.statements_run,
    })
}

/// `[step] revision: message`, with the state once it is no longer running.
fn event_line(e: &v1::ExecutionEvent) -> String {
    let mut line = format!("[{}] ", e.step);
    if !e.revision_id.is_empty() {
        line.push_str(&e.revision_id);
        line.push_str(": ");
    }
    line.push_str(&e.message);
    match state_of(e.state) {
        v1::ExecutionState::Running | v1::ExecutionState::Unspecified => {}
        _ => {
            line.push_str(" (");
            line.push_str(&state_text(e.state).to_uppercase());
            line.push(')');
        }
    }
    line
}

/// Prints the events of an execute or rollback stream as they arrive; the
/// exit code is decided by the last one.
async fn follow(cli: &Cli, env: &str, mut stream: tonic::Streaming<v1::ExecutionEvent>) -> Outcome {
    let mut last: Option<v1::ExecutionEvent> = None;
    let see = |last: &Option<v1::ExecutionEvent>| match last {
        Some(e) if !e.execution_id.is_empty() => {
            format!("see `sgctl execution {}`", e.execution_id)
        }
        _ => format!("see `sgctl status --env {env}`"),
    };
    let interrupted = interrupted();
    tokio::pin!(interrupted);
    loop {
        let next = tokio::select! {
            next = stream.message() => next,
            signal = &mut interrupted => {
                // Dropping the stream tells the server its client went away.
                return Err(Failure::new(
                    128 + signal,
                    format!(
                        "interrupted: the server finishes the revision it is running and stops before the next one; {}",
                        see(&last)
                    ),
                ));
            }
        };
        match next {
            Ok(Some(event)) => {
                if cli.json {
                    let value = event_json(&event);
                    println!(
                        "{}",
                        serde_json::to_string(&value).unwrap_or_else(|_| value.to_string())
                    );
                } else {
                    println!("{}", event_line(&event));
                }
                last = Some(event);
            }
            Ok(None) => break,
            Err(status) => {
                let mut failure = Failure::from(status);
                if last.is_some() {
                    failure.message = format!("{} ({})", failure.message, see(&last));
                }
                return Err(failure);
            }
        }
    }
    match last.as_ref().map(|e| state_of(e.state)) {
        Some(v1::ExecutionState::Succeeded) => Ok(exit::OK),
        // Said again as the failure, on stderr (and as the `{"error"}`
        // line with --json), for a pipeline that keeps only that.
        Some(state @ (v1::ExecutionState::Failed | v1::ExecutionState::Refused)) => {
            let message = last.as_ref().map_or("", |e| e.message.as_str());
            Err(Failure::new(
                exit::REFUSED,
                format!(
                    "execution {}: {message}; {}",
                    if state == v1::ExecutionState::Failed {
                        "failed"
                    } else {
                        "refused"
                    },
                    see(&last)
                ),
            ))
        }
        Some(_) => Err(Failure::new(
            exit::UNAVAILABLE,
            format!(
                "the server ended the stream before the execution finished, so its outcome is unknown: {}",
                see(&last)
            ),
        )),
        None => Err(Failure::new(
            exit::UNAVAILABLE,
            format!(
                "the server ended the stream without reporting anything: {}",
                see(&last)
            ),
        )),
    }
}

/// Resolves with the signal's number once sgctl is interrupted (SIGINT,
/// or SIGTERM as a CI job's timeout sends it).
async fn interrupted() -> u8 {
    // A handler that cannot be installed never fires.
    let sigint = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => 2,
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            return tokio::select! {
                number = sigint => number,
                _ = terminate.recv() => 15,
            };
        }
    }
    sigint.await
}

async fn deploy(cli: &Cli, env: &str, to: Option<&str>) -> Outcome {
    let connection = connect(cli).await?;
    let stream = connection
        .execution()
        .execute(v1::ExecuteRequest {
            project: cli.project.clone(),
            environment: env.to_string(),
            up_to: to.unwrap_or_default().to_string(),
        })
        .await?
        .into_inner();
    follow(cli, env, stream).await
}

async fn rollback(cli: &Cli, env: &str) -> Outcome {
    let connection = connect(cli).await?;
    let stream = connection
        .execution()
        .rollback(v1::RollbackRequest {
            project: cli.project.clone(),
            environment: env.to_string(),
        })
        .await?
        .into_inner();
    follow(cli, env, stream).await
}

fn execution_json(r: &v1::ExecutionRecord) -> Value {
    json!({
        "id": r.id,
        "project": r.project,
        "environment": r.environment,
        "revision_id": r.revision_id,
        "action": r.action,
        "state": state_text(r.state),
        "started_at": time_json(r.started_at.as_ref()),
        "finished_at": time_json(r.finished_at.as_ref()),
        "duration_seconds": seconds_between(r.started_at.as_ref(), r.finished_at.as_ref()),
        "statements_run": r.statements_run,
        "transactional": r.transactional,
        "error": text_json(&r.error),
        "executed_by": r.executed_by,
        "policy_sha256": r.policy_sha256,
        "backup_path": text_json(&r.backup_path),
        "backup_sha256": text_json(&r.backup_sha256),
        "backup_bytes": (!r.backup_path.is_empty()).then_some(r.backup_bytes),
        "fingerprint": text_json(&r.fingerprint),
        "emergency": r.emergency,
    })
}

async fn status(cli: &Cli, env: &str) -> Outcome {
    let connection = connect(cli).await?;
    let status = connection
        .execution()
        .status(v1::StatusRequest {
            project: cli.project.clone(),
            environment: env.to_string(),
        })
        .await?
        .into_inner();
    let environment = if status.environment.is_empty() {
        env
    } else {
        &status.environment
    };
    // The target could not be read: what the catalog knows is shown all the
    // same, and the exit code says the current revision is unknown.
    let target_unknown = !status.target_error.is_empty();
    let code = match (target_unknown, status.target_unreachable) {
        (false, _) if !status.off_lineage.is_empty() => exit::REFUSED,
        (false, _) => exit::OK,
        (true, true) => exit::UNAVAILABLE,
        (true, false) => exit::REFUSED,
    };
    // What blocks each pending revision: its gate, asked one by one.
    let mut gates = Vec::new();
    for revision in &status.pending_revisions {
        gates.push(check_gate(&connection, cli, revision, environment, false).await);
    }
    if cli.json {
        let pending: Vec<Value> = status
            .pending_revisions
            .iter()
            .zip(&gates)
            .map(|(revision, gate)| match gate {
                Ok(v) => json!({ "revision_id": revision, "gate": verdict_json(v) }),
                Err(s) => json!({ "revision_id": revision, "gate": null, "gate_error": exit::describe(s) }),
            })
            .collect();
        let condition = |c: &Option<v1::GateCondition>| {
            c.as_ref()
                .map(|c| json!({ "passed": c.passed, "reason": c.reason }))
        };
        let known = |value: Value| if target_unknown { Value::Null } else { value };
        print_json(&json!({
            "environment": environment,
            "current_revision": known(text_json(&status.current_revision)),
            "target_error": target_unknown.then_some(&status.target_error),
            "off_lineage": text_json(&status.off_lineage),
            "window": condition(&status.window),
            "freeze": condition(&status.freeze),
            "pending": known(json!(pending)),
            "recent_executions": status.recent_executions.iter().map(execution_json).collect::<Vec<_>>(),
        }));
        return Ok(code);
    }
    println!("environment  {environment}");
    if target_unknown {
        println!("current      unknown: {}", status.target_error);
    } else if status.current_revision.is_empty() {
        println!("current      (none: not deployed or stamped yet)");
    } else {
        println!("current      {}", status.current_revision);
    }
    if let Some(window) = &status.window {
        let state = if window.passed { "open" } else { "closed" };
        println!("window       {state}: {}", window.reason);
    }
    if let Some(freeze) = &status.freeze {
        println!("freeze       {}", freeze.reason);
    }
    println!(
        "pending      {}",
        match status.pending_revisions.len() {
            _ if target_unknown => "unknown until the target can be read".to_string(),
            _ if !status.off_lineage.is_empty() => format!("none: {}", status.off_lineage),
            0 => "none: up to date".to_string(),
            1 => "1 revision".to_string(),
            n => format!("{n} revisions"),
        }
    );
    if !status.pending_revisions.is_empty() {
        let rows: Vec<Vec<String>> = status
            .pending_revisions
            .iter()
            .zip(&gates)
            .map(|(revision, gate)| {
                vec![
                    revision.clone(),
                    match gate {
                        Ok(v) => verdict_summary(v),
                        Err(s) => format!("unknown ({})", exit::describe(s)),
                    },
                ]
            })
            .collect();
        println!();
        print!("{}", table::render(&["PENDING", "GATE"], &rows));
    }
    println!();
    if status.recent_executions.is_empty() {
        println!("no executions on {environment} yet");
        return Ok(code);
    }
    let rows: Vec<Vec<String>> = status
        .recent_executions
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                if r.emergency {
                    format!("{} (emergency)", r.action)
                } else {
                    or_dash(&r.action)
                },
                or_dash(&r.revision_id),
                state_text(r.state).into(),
                time_text(r.started_at.as_ref()),
                duration_text(r),
                r.statements_run.to_string(),
                first_line(&r.error),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "EXECUTION",
                "ACTION",
                "REVISION",
                "STATE",
                "STARTED",
                "DURATION",
                "STATEMENTS",
                "ERROR"
            ],
            &rows
        )
    );
    Ok(code)
}

async fn execution(cli: &Cli, id: &str) -> Outcome {
    let connection = connect(cli).await?;
    let r = connection
        .execution()
        .get_execution(v1::GetExecutionRequest {
            execution_id: id.to_string(),
        })
        .await?
        .into_inner();
    // Execution ids are unique across projects; a --project given with one
    // is a check, not ignored.
    if cli.project_given && r.project != cli.project {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "execution {id} belongs to project {}, not {}",
                r.project, cli.project
            ),
        ));
    }
    if cli.json {
        print_json(&execution_json(&r));
        return Ok(exit::OK);
    }
    println!("execution    {}", r.id);
    println!("project      {}", r.project);
    println!("environment  {}", r.environment);
    println!("revision     {}", r.revision_id);
    println!("action       {}", or_dash(&r.action));
    if r.emergency {
        println!("approvals    emergency path (the matrix forbids this revision's class here)");
    }
    println!("state        {}", state_text(r.state));
    println!("executed by  {}", or_dash(&r.executed_by));
    println!(
        "started      {}",
        or_dash(&time_text(r.started_at.as_ref()))
    );
    println!(
        "finished     {}",
        or_dash(&time_text(r.finished_at.as_ref()))
    );
    println!("duration     {}", duration_text(&r));
    println!(
        "statements   {} run, {}",
        r.statements_run,
        if r.transactional {
            "in one transaction"
        } else {
            "one by one (not transactional)"
        }
    );
    if r.backup_path.is_empty() {
        println!("backup       none");
    } else {
        println!(
            "backup       {} ({} bytes, sha256 {})",
            r.backup_path,
            r.backup_bytes,
            or_dash(&r.backup_sha256)
        );
    }
    println!("fingerprint  {}", or_dash(&r.fingerprint));
    println!("policy       {}", or_dash(&r.policy_sha256));
    if !r.error.is_empty() {
        println!(
            "error        {}",
            r.error.trim_end().replace('\n', "\n             ")
        );
    }
    Ok(exit::OK)
}

// ---- onboarding ----

async fn stamp(
    cli: &Cli,
    env: &str,
    revision: &str,
    force: bool,
    reason: Option<&str>,
    restored: bool,
) -> Outcome {
    let connection = connect(cli).await?;
    let response = connection
        .onboarding()
        .stamp(v1::StampRequest {
            project: cli.project.clone(),
            environment: env.to_string(),
            revision_id: revision.to_string(),
            force,
            reason: reason.unwrap_or_default().to_string(),
            restored,
        })
        .await;
    let response = match response {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::FailedPrecondition => {
            // The message is the diff between the live and the expected
            // schema, complete in itself: no "refused:" before it.
            return Err(Failure::new(exit::REFUSED, status.message().trim_end()));
        }
        Err(status) => return Err(status.into()),
    };
    if cli.json {
        print_json(&json!({
            "environment": env,
            "revision_id": revision,
            "fingerprint": text_json(&response.fingerprint),
            "forced": response.forced,
            "differences": response.differences,
        }));
        return Ok(exit::OK);
    }
    if response.forced {
        println!(
            "stamped {revision} on {env} FORCED (fingerprint {})",
            or_dash(&response.fingerprint)
        );
        if !response.differences.is_empty() {
            println!("differences forced past:");
            for difference in &response.differences {
                println!("  {difference}");
            }
        }
    } else {
        println!(
            "{} {revision} on {env}: live schema matches (fingerprint {})",
            if restored {
                "recorded the restored"
            } else {
                "stamped"
            },
            or_dash(&response.fingerprint)
        );
    }
    Ok(exit::OK)
}

async fn drift(cli: &Cli, env: &str) -> Outcome {
    let connection = connect(cli).await?;
    let report = connection
        .onboarding()
        .check_drift(v1::CheckDriftRequest {
            project: cli.project.clone(),
            environment: env.to_string(),
        })
        .await?
        .into_inner();
    let code = if report.drifted {
        exit::REFUSED
    } else {
        exit::OK
    };
    if cli.json {
        print_json(&json!({
            "environment": env,
            "drifted": report.drifted,
            "current_revision": text_json(&report.current_revision),
            "expected_fingerprint": text_json(&report.expected_fingerprint),
            "live_fingerprint": text_json(&report.live_fingerprint),
            "differences": report.differences,
        }));
        return Ok(code);
    }
    let revision = if report.current_revision.is_empty() {
        "(no revision)"
    } else {
        &report.current_revision
    };
    if !report.drifted {
        println!(
            "no drift: live schema matches {revision} (fingerprint {})",
            or_dash(&report.live_fingerprint)
        );
        return Ok(code);
    }
    println!("DRIFT on {env} at {revision}:");
    for difference in &report.differences {
        println!("  {difference}");
    }
    if report.differences.is_empty() {
        println!(
            "  fingerprint expected {}, live {}",
            or_dash(&report.expected_fingerprint),
            or_dash(&report.live_fingerprint)
        );
    }
    Ok(code)
}
