//! `denied-table`: statements touching a table on the configured deny-list
//! (default `pours`: the edge controllers' SQLite journal, which has no place
//! in the backend schema). Found by walking the parse tree, so a name in a
//! string or function body does not count. An error, but hygiene: it is a
//! scope violation, not a statement risk.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, referenced_tables};
use crate::{Category, Severity};

pub struct DeniedTable;

pub static INFO: RuleInfo = RuleInfo {
    id: "denied-table",
    severity: Severity::Error,
    category: Category::Hygiene,
    message: "statement touches a table that is out of scope for backend migrations",
    help: "this table is owned elsewhere (for `pours`: the edge controllers' local journal); move the \
           change to its owner or pick another name",
};

impl Rule for DeniedTable {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        if !rev.has_deny_list() {
            return;
        }
        for (s, node) in rev.nodes() {
            // The tree walk allocates; skip statements that cannot mention the name.
            if !rev
                .deny_list()
                .iter()
                .any(|d| contains_ignore_case(s.text, d))
            {
                continue;
            }
            let mut tables = referenced_tables(node);
            tables.retain(|t| rev.denied(t));
            tables.dedup();
            if let Some(t) = tables.first() {
                out.push(Hit::new(
                    s.index,
                    format!("statement touches denied table `{t}`"),
                ));
            }
        }
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let needle = needle.trim();
    if needle.is_empty() {
        return false;
    }
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;
    use crate::{LintConfig, lint};

    const ID: &str = "denied-table";

    #[test]
    fn flags_pours_anywhere_in_the_tree() {
        assert_eq!(hits("CREATE TABLE pours (id int);", ID).len(), 1);
        assert_eq!(hits("CREATE TABLE edge.POURS (id int);", ID).len(), 1);
        assert_eq!(
            hits("INSERT INTO pour_records SELECT * FROM pours;", ID).len(),
            1
        );
        assert_eq!(
            hits(
                "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (p) REFERENCES pours (id) NOT VALID;",
                ID
            )
            .len(),
            1
        );
    }

    #[test]
    fn ignores_similar_names_and_strings() {
        assert!(hits("CREATE TABLE pour_records (id int);", ID).is_empty());
        assert!(hits("SELECT 'pours';", ID).is_empty());
        assert!(
            hits(
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT count(*) FROM pours $$;",
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn names_compare_as_postgresql_compares_them() {
        // A quoted name keeps its case: "Pours" is another table.
        assert!(hits("CREATE TABLE \"Pours\" (id int);", ID).is_empty());
        assert!(hits("SELECT * FROM edge.\"POURS\";", ID).is_empty());
        assert_eq!(hits("SELECT * FROM \"pours\";", ID).len(), 1);
        assert_eq!(hits("SELECT * FROM Pours;", ID).len(), 1);
        // A quoted entry in the configuration means that exact name.
        let config = LintConfig {
            deny_tables: vec!["\"Secrets\"".into(), "Audit".into()],
            ..LintConfig::default()
        };
        let flagged = |sql: &str| {
            lint(sql, Some("SELECT 1;"), &config)
                .findings
                .iter()
                .filter(|f| f.rule == ID)
                .count()
        };
        assert_eq!(flagged("SELECT * FROM \"Secrets\";"), 1);
        assert_eq!(flagged("SELECT * FROM secrets;"), 0);
        assert_eq!(flagged("SELECT * FROM AUDIT;"), 1);
        assert_eq!(flagged("SELECT * FROM \"Audit\";"), 0);
    }

    #[test]
    fn deny_list_is_configurable() {
        let config = LintConfig {
            deny_tables: vec!["secrets".into()],
            ..LintConfig::default()
        };
        let r = lint(
            "DROP TABLE secrets; CREATE TABLE pours (id int);",
            Some("SELECT 1;"),
            &config,
        );
        let ids: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.rule == ID)
            .map(|f| f.statement_index)
            .collect();
        assert_eq!(ids, vec![0]);
    }
}
