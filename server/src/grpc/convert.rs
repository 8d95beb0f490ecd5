//! Conversions between domain types and their protobuf messages.

use crate::audit;
use crate::catalog::LintRecord;
use crate::catalog::Revision;
use crate::config;
use schemagate_policy::{LintReport, RiskClass};
use schemagate_proto::v1;

pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// Milliseconds of a timestamp from a request. Saturates rather than
/// overflows: a caller may send any `seconds`, and the callers compare the
/// result with bounds of their own (a window longer than 7 days, audit
/// entries since a time).
pub fn timestamp_ms(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos) / 1_000_000)
}

pub fn risk(risk: RiskClass) -> v1::RiskClass {
    match risk {
        RiskClass::Additive => v1::RiskClass::Additive,
        RiskClass::Risky => v1::RiskClass::Risky,
        RiskClass::Destructive => v1::RiskClass::Destructive,
    }
}

fn severity(name: &str) -> v1::Severity {
    match name {
        "info" => v1::Severity::Info,
        "warning" => v1::Severity::Warning,
        "error" => v1::Severity::Error,
        _ => v1::Severity::Unspecified,
    }
}

pub fn lint_report(report: &LintReport) -> v1::LintReport {
    let mut message = lint_record(&LintRecord::from(report), report.risk);
    message.parse_error = report
        .parse_error
        .as_ref()
        .map(|err| format!("{} (line {}, column {})", err.message, err.line, err.column))
        .unwrap_or_default();
    message
}

fn lint_record(record: &LintRecord, class: RiskClass) -> v1::LintReport {
    v1::LintReport {
        findings: record
            .findings
            .iter()
            .map(|finding| v1::Finding {
                rule: finding.rule.clone(),
                severity: severity(&finding.severity).into(),
                category: finding.category.clone(),
                statement_index: finding.statement_index as u32,
                line: finding.line,
                column: finding.column,
                statement: finding.statement.clone(),
                message: finding.message.clone(),
                help: finding.help.clone(),
                exempted: finding.exemption_reason.is_some(),
                exemption_reason: finding.exemption_reason.clone().unwrap_or_default(),
            })
            .collect(),
        risk: risk(class).into(),
        statements: record.statements as u32,
        transactional: record.transactional,
        parse_error: String::new(),
    }
}

pub fn revision(revision: &Revision) -> v1::Revision {
    v1::Revision {
        project: revision.project.clone(),
        id: revision.id.clone(),
        parent_id: revision.parent_id.clone(),
        up_sql: revision.up_sql.clone(),
        down_sql: revision.down_sql.clone(),
        description: revision.description.clone(),
        author: revision.author.clone(),
        created_at: Some(timestamp(revision.created_at_ms)),
        checksum: revision.checksum.clone(),
        risk: risk(revision.risk).into(),
        lint: Some(lint_record(&revision.lint, revision.risk)),
        sequence: revision.sequence as u32,
    }
}

pub fn audit_entry(entry: audit::Entry) -> v1::AuditEntry {
    v1::AuditEntry {
        id: entry.id,
        at: Some(timestamp(entry.at_ms)),
        actor: entry.actor,
        action: entry.action,
        project: entry.project,
        environment: entry.environment,
        subject: entry.subject,
        outcome: entry.outcome,
        detail: entry.detail,
        prev_sha256: entry.prev_sha256,
        sha256: entry.sha256,
    }
}

pub fn approval(approval: crate::approvals::Approval) -> v1::ApprovalRecord {
    v1::ApprovalRecord {
        project: approval.project,
        revision_id: approval.revision_id,
        environment: approval.environment,
        kind: match approval.kind.as_str() {
            "approve" => v1::ApprovalKind::Approve,
            "reject" => v1::ApprovalKind::Reject,
            _ => v1::ApprovalKind::Unspecified,
        }
        .into(),
        approver: approval.approver,
        approver_roles: approval.approver_roles,
        revision_checksum: approval.revision_checksum,
        policy_sha256: approval.policy_sha256,
        reason: approval.reason,
        created_at: Some(timestamp(approval.created_at_ms)),
        revoked: approval.revoked,
        rollback: approval.action == "rollback",
        comment: approval.comment,
        valid: approval.valid,
        used_up: approval.consumed,
    }
}

pub fn condition(condition: crate::gate::Condition) -> v1::GateCondition {
    v1::GateCondition {
        name: condition.name.to_string(),
        passed: condition.passed,
        reason: condition.reason,
        not_checked: condition.not_checked,
    }
}

pub fn verdict(verdict: crate::gate::Verdict) -> v1::GateVerdict {
    v1::GateVerdict {
        open: verdict.open,
        conditions: verdict.conditions.into_iter().map(condition).collect(),
        revision_id: verdict.revision_id,
        environment: verdict.environment,
        action: verdict.action.as_str().to_string(),
        risk: risk(verdict.risk).into(),
        target_unreachable: verdict.target_unreachable,
    }
}

fn execution_state(state: crate::executor::State) -> v1::ExecutionState {
    use crate::executor::State;
    match state {
        State::Running => v1::ExecutionState::Running,
        State::Succeeded => v1::ExecutionState::Succeeded,
        State::Failed => v1::ExecutionState::Failed,
        State::Refused => v1::ExecutionState::Refused,
    }
}

pub fn execution_event(event: crate::executor::Event) -> v1::ExecutionEvent {
    v1::ExecutionEvent {
        execution_id: event.execution_id,
        step: event.step.to_string(),
        revision_id: event.revision_id,
        message: event.message,
        state: execution_state(event.state).into(),
        statements_run: event.statements_run,
    }
}

pub fn execution_record(record: crate::executor::Record) -> v1::ExecutionRecord {
    v1::ExecutionRecord {
        state: execution_state(record.state()).into(),
        id: record.id,
        project: record.project,
        environment: record.environment,
        revision_id: record.revision_id,
        action: record.action,
        started_at: Some(timestamp(record.started_at_ms)),
        finished_at: record.finished_at_ms.map(timestamp),
        statements_run: u32::try_from(record.statements_run).unwrap_or(u32::MAX),
        error: record.error,
        executed_by: record.executed_by,
        policy_sha256: record.policy_sha256,
        backup_path: record.backup.path,
        backup_sha256: record.backup.sha256,
        backup_bytes: record.backup.bytes,
        transactional: record.transactional,
        fingerprint: record.fingerprint,
        emergency: record.emergency,
    }
}

/// What one environment of the policy demands, as people read it. The
/// target's URL stays on the server: only whether its variable is set.
pub fn environment_policy(env: &config::Environment) -> v1::EnvironmentPolicy {
    use crate::target::{Target, TargetError};
    let target = match Target::of(env) {
        Ok(_) => "set",
        Err(TargetError::MissingUrl { .. }) => "unset",
        Err(_) => "not a postgres:// URL",
    };
    let backup = match (&env.backup_dir_env, env.backup) {
        (Some(variable), true) => format!(
            "pg_dump into ${variable} ({})",
            if crate::backup::directory(env).is_some() {
                "set"
            } else {
                "unset"
            }
        ),
        _ => "no".to_string(),
    };
    let matrix = &env.matrix;
    v1::EnvironmentPolicy {
        name: env.name.clone(),
        target_url_env: env.target_url_env.clone(),
        target: target.to_string(),
        windows: env.describe_windows(),
        backup,
        lock_timeout: env.lock_timeout.clone(),
        statement_timeout: env.statement_timeout.clone(),
        additive: matrix.additive.describe(),
        risky: matrix.risky.describe(),
        destructive: matrix.destructive.describe(),
        rollback: matrix.rollback.describe(),
        additive_requirement: Some(requirement(&matrix.additive)),
        risky_requirement: Some(requirement(&matrix.risky)),
        destructive_requirement: Some(requirement(&matrix.destructive)),
        rollback_requirement: Some(requirement(&matrix.rollback)),
    }
}

fn requirement(requirement: &config::Requirement) -> v1::ApprovalRequirement {
    match requirement {
        config::Requirement::Forbidden => v1::ApprovalRequirement {
            forbidden: true,
            ..v1::ApprovalRequirement::default()
        },
        config::Requirement::Approvals { count, roles } => v1::ApprovalRequirement {
            forbidden: false,
            approvals: *count,
            roles: roles.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_timestamps_saturate_instead_of_overflowing() {
        let ms = |seconds, nanos| timestamp_ms(&prost_types::Timestamp { seconds, nanos });
        assert_eq!(ms(1, 500_000_000), 1500);
        assert_eq!(ms(-1, 0), -1000);
        assert_eq!(ms(i64::MAX, i32::MAX), i64::MAX);
        assert_eq!(ms(i64::MIN, i32::MIN), i64::MIN);
        assert_eq!(ms(i64::MAX / 1000 + 1, 0), i64::MAX);
        assert_eq!(timestamp_ms(&timestamp(-1234)), -1234);
    }
}
