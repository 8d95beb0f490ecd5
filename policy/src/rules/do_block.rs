//! `do-block`: a DO block. Its body is PL/pgSQL, which the linter does not
//! read: whatever it drops, rewrites or deletes goes unseen, so the revision
//! is at least risky and its reviewers read the body themselves.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::Revision;
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct DoBlock;

pub static INFO: RuleInfo = RuleInfo {
    id: "do-block",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "a DO block runs code the linter does not read: what it drops, rewrites or deletes is not checked, so the revision counts as risky",
    help: "write the statements out as plain SQL where you can, so that each is checked; keep a DO \
           block for logic SQL cannot express, and have its reviewers read the body",
};

impl Rule for DoBlock {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            if let NodeEnum::DoStmt(_) = node {
                out.push(Hit::new(
                    s.index,
                    "DO block: its body is not checked by the linter (a DROP, a rewrite or a DELETE in it would go unseen)",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_do_blocks() {
        let sql = "DO $$ BEGIN\n  IF EXISTS (SELECT 1) THEN ALTER TABLE orders DROP COLUMN legacy_status; END IF;\nEND $$;";
        assert_eq!(hits(sql, "do-block").len(), 1);
        let report = crate::lint(sql, Some("SELECT 1;"), &crate::LintConfig::default());
        assert_eq!(report.risk, crate::RiskClass::Risky);
        assert!(hits("SELECT 1;", "do-block").is_empty());
    }
}
