//! `transaction-control`: BEGIN, COMMIT, ROLLBACK and their kin in a
//! revision. The executor runs a revision in one transaction together with
//! its version row; a COMMIT inside would commit the SQL before it apart
//! from the row, and a ROLLBACK would throw the SQL away while the row still
//! said it was applied. The server refuses such a revision at submit (up or
//! down SQL) and the executor refuses to run one; the rule shows it in
//! `sgctl lint` first. It cannot be exempted. Savepoints are fine.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::Revision;
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::TransactionStmtKind;

pub struct TransactionControl;

pub static INFO: RuleInfo = RuleInfo {
    id: "transaction-control",
    severity: Severity::Error,
    category: Category::Hygiene,
    message: "the revision controls its own transaction, but Schemagate runs every revision in one transaction with its version row",
    help: "remove BEGIN/COMMIT/ROLLBACK: the revision already runs in one transaction, committed with its \
           version row; work that must commit on its own goes in a revision of its own \
           (SAVEPOINT and ROLLBACK TO SAVEPOINT are fine)",
};

/// The statement's keyword when it begins, ends or prepares a transaction.
pub fn transaction_control(node: &NodeEnum) -> Option<&'static str> {
    let NodeEnum::TransactionStmt(stmt) = node else {
        return None;
    };
    use TransactionStmtKind::*;
    match TransactionStmtKind::try_from(stmt.kind).ok()? {
        TransStmtBegin | TransStmtStart => Some("BEGIN"),
        TransStmtCommit => Some("COMMIT"),
        TransStmtRollback => Some("ROLLBACK"),
        TransStmtPrepare => Some("PREPARE TRANSACTION"),
        TransStmtCommitPrepared => Some("COMMIT PREPARED"),
        TransStmtRollbackPrepared => Some("ROLLBACK PREPARED"),
        TransStmtSavepoint | TransStmtRelease | TransStmtRollbackTo | Undefined => None,
    }
}

impl Rule for TransactionControl {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            if let Some(keyword) = transaction_control(node) {
                out.push(Hit::new(
                    s.index,
                    format!(
                        "{keyword} in a revision: Schemagate runs the revision in one transaction with its version row, which {keyword} would {}",
                        if keyword == "BEGIN" {
                            "not start anew (the COMMIT or ROLLBACK that closes it ends Schemagate's)"
                        } else {
                            "end before the version row is written"
                        }
                    ),
                ));
            }
        }
    }

    /// The executor cannot run such a revision whatever an exemption says.
    fn exemptible(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;
    use crate::{LintConfig, Severity, lint};

    const ID: &str = "transaction-control";

    #[test]
    fn flags_each_statement_that_begins_or_ends_a_transaction() {
        let h = hits(
            "BEGIN;\nCREATE TABLE kegs (id int);\nCOMMIT;\nSTART TRANSACTION;\nROLLBACK;\nEND;\nABORT;",
            ID,
        );
        let lines: Vec<u32> = h.iter().map(|f| f.line).collect();
        assert_eq!(lines, [1, 3, 4, 5, 6, 7]);
        assert!(h.iter().all(|f| f.severity == Severity::Error));
        assert!(
            h[1].message.starts_with("COMMIT in a revision"),
            "{}",
            h[1].message
        );
        assert!(!hits("PREPARE TRANSACTION 'x';", ID).is_empty());
    }

    #[test]
    fn savepoints_and_plain_sql_are_fine() {
        assert!(
            hits(
                "SAVEPOINT a; CREATE TABLE kegs (id int); ROLLBACK TO SAVEPOINT a; RELEASE SAVEPOINT a;",
                ID
            )
            .is_empty()
        );
        assert!(hits("CREATE TABLE kegs (id int);", ID).is_empty());
    }

    #[test]
    fn the_down_sql_is_checked_too_and_alone() {
        let report = lint(
            "CREATE TABLE kegs (id int);",
            Some("-- undo\nDROP TABLE kegs;\n  COMMIT;\nROLLBACK;"),
            &LintConfig::default(),
        );
        let found = report
            .down_transaction_control
            .as_ref()
            .expect("the down's COMMIT is found");
        assert_eq!((found.rule, found.line, found.column), (ID, 3, 3));
        assert!(
            found.message.starts_with("COMMIT in a revision"),
            "{}",
            found.message
        );
        assert!(report.has_errors());
        // The down's DROP TABLE is what a down does: no rule but this one
        // reads it.
        assert!(report.findings.iter().all(|f| f.rule != "drop-table"));

        let clean = lint(
            "CREATE TABLE kegs (id int);",
            Some("DROP TABLE kegs;"),
            &LintConfig::default(),
        );
        assert!(clean.down_transaction_control.is_none());
        assert!(!clean.has_errors(), "{:?}", clean.findings);
    }

    #[test]
    fn an_exemption_does_not_silence_it() {
        let report = lint(
            "-- schemagate:allow transaction-control: we know\nCOMMIT;",
            Some("SELECT 1;"),
            &LintConfig::default(),
        );
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.rule == ID && f.severity == Severity::Error),
            "{:?}",
            report.findings
        );
    }
}
