//! Conversions between domain types and their protobuf messages.

use crate::audit;
use crate::catalog::LintRecord;
use crate::catalog::Revision;
use schemagate_policy::{LintReport, RiskClass};
use schemagate_proto::v1;

pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn timestamp_ms(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000
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
