//! `vacuum-full`: VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE
//! lock (reads blocked too) for as long as the copy takes.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, has_option};
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct VacuumFull;

pub static INFO: RuleInfo = RuleInfo {
    id: "vacuum-full",
    severity: Severity::Error,
    category: Category::Locking,
    message: "VACUUM FULL rewrites the table and blocks all reads and writes meanwhile",
    help: "use plain VACUUM, or pg_repack / pg_squeeze for an online rewrite, outside migrations",
};

impl Rule for VacuumFull {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            // Without tables it rewrites the whole database; with tables
            // all created earlier in the revision, nothing anyone sees.
            let any_existing = |v: &pg_query::protobuf::VacuumStmt| {
                v.rels.is_empty()
                    || v.rels.iter().any(|r| match r.node.as_ref() {
                        Some(NodeEnum::VacuumRelation(vr)) => {
                            rev.is_existing(vr.relation.as_ref(), s.index)
                        }
                        _ => true,
                    })
            };
            if let NodeEnum::VacuumStmt(v) = node
                && v.is_vacuumcmd
                && has_option(&v.options, "full")
                && any_existing(v)
            {
                out.push(Hit {
                    statement: s.index,
                    ..Hit::default()
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_vacuum_full_only() {
        assert_eq!(hits("VACUUM FULL kegs;", "vacuum-full").len(), 1);
        assert_eq!(hits("VACUUM (FULL, ANALYZE) kegs;", "vacuum-full").len(), 1);
        assert!(hits("VACUUM (FULL false) kegs;", "vacuum-full").is_empty());
        assert!(hits("VACUUM ANALYZE kegs;", "vacuum-full").is_empty());
    }

    #[test]
    fn a_table_created_in_the_revision_is_not_flagged() {
        assert!(
            crate::rules::hits("CREATE TABLE t (id int); VACUUM FULL t;", "vacuum-full").is_empty()
        );
        assert_eq!(
            crate::rules::hits("VACUUM FULL kegs;", "vacuum-full").len(),
            1
        );
    }
}
