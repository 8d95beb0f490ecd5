//! `missing-down-migration`: the revision has no down migration (absent,
//! empty or comments only), so it cannot be rolled back by the executor.
//! Only checked when `LintConfig::require_down` is set. Hygiene: it does not
//! change what the up migration does, so it does not raise the risk class.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::Revision;
use crate::{Category, Severity};

pub struct MissingDownMigration;

pub static INFO: RuleInfo = RuleInfo {
    id: "missing-down-migration",
    severity: Severity::Warning,
    category: Category::Hygiene,
    message: "revision has no down migration",
    help: "write the down SQL that undoes this revision (for an additive change: the matching DROP); \
           if it truly cannot be undone, say so with an exemption",
};

impl Rule for MissingDownMigration {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        if rev.config.require_down && rev.down_missing {
            out.push(Hit {
                statement: 0,
                ..Hit::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{LintConfig, lint};

    const ID: &str = "missing-down-migration";

    fn count(down: Option<&str>, require: bool) -> usize {
        let config = LintConfig {
            require_down: require,
            ..LintConfig::default()
        };
        lint("CREATE TABLE a (id int);", down, &config)
            .findings
            .iter()
            .filter(|f| f.rule == ID)
            .count()
    }

    #[test]
    fn missing_or_empty_down() {
        assert_eq!(count(None, true), 1);
        assert_eq!(count(Some("  -- nothing\n"), true), 1);
        assert_eq!(count(Some("DROP TABLE a;"), true), 0);
        assert_eq!(count(None, false), 0);
    }
}
