//! `set-tablespace`: ALTER TABLE/INDEX ... SET TABLESPACE (or ALTER ... ALL
//! IN TABLESPACE) copies every page of the relation to the new tablespace
//! under an ACCESS EXCLUSIVE lock.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, alter_cmd, cmd_is, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;

pub struct SetTablespace;

pub static INFO: RuleInfo = RuleInfo {
    id: "set-tablespace",
    severity: Severity::Error,
    category: Category::Locking,
    message: "SET TABLESPACE copies the whole table or index to the new tablespace and blocks all reads and writes meanwhile",
    help: "create new tables and indexes in the new tablespace directly; move a large existing one \
           with an online copy (a new table or index built there, then a switch), or at a \
           maintenance window outside the migration",
};

impl Rule for SetTablespace {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            match node {
                // Tables, indexes and materialized views alike.
                NodeEnum::AlterTableStmt(a) if rev.is_existing(a.relation.as_ref(), s.index) => {
                    let moved = a
                        .cmds
                        .iter()
                        .filter_map(alter_cmd)
                        .find(|c| cmd_is(c, AlterTableType::AtSetTableSpace));
                    if let Some(cmd) = moved {
                        out.push(Hit::new(
                            s.index,
                            format!(
                                "moving `{}` to tablespace `{}` copies all of it while it is locked against reads and writes",
                                a.relation.as_ref().map(qualified).unwrap_or_default(),
                                cmd.name
                            ),
                        ));
                    }
                }
                NodeEnum::AlterTableMoveAllStmt(m) => out.push(Hit::new(
                    s.index,
                    format!(
                        "moving everything in tablespace `{}` to `{}` copies each relation while it is locked against reads and writes",
                        m.orig_tablespacename, m.new_tablespacename
                    ),
                )),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "set-tablespace";

    #[test]
    fn flags_a_move_of_an_existing_relation() {
        let h = hits("ALTER TABLE orders SET TABLESPACE fast_ssd;", ID);
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message
                .starts_with("moving `orders` to tablespace `fast_ssd`"),
            "{}",
            h[0].message
        );
        assert_eq!(
            hits("ALTER INDEX orders_total_idx SET TABLESPACE fast_ssd;", ID).len(),
            1
        );
        assert_eq!(
            hits(
                "ALTER TABLE ALL IN TABLESPACE slow_hdd SET TABLESPACE fast_ssd;",
                ID
            )
            .len(),
            1
        );
    }

    #[test]
    fn leaves_a_new_table_alone() {
        assert!(
            hits(
                "CREATE TABLE t (a int); ALTER TABLE t SET TABLESPACE fast_ssd;",
                ID
            )
            .is_empty()
        );
        assert!(hits("CREATE TABLE t (a int) TABLESPACE fast_ssd;", ID).is_empty());
    }
}
