//! `set-tablespace`: ALTER TABLE/INDEX ... SET TABLESPACE (or ALTER ... ALL
//! IN TABLESPACE) copies every page of the relation to the new tablespace
//! under an ACCESS EXCLUSIVE lock.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
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
        // Tables, indexes and materialized views alike.
        for (s, alter, cmds) in rev.alters() {
            if !rev.is_existing(alter.relation.as_ref(), s.index) {
                continue;
            }
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtSetTableSpace)) {
                out.push(
                    Hit::new(
                        s.index,
                        format!(
                            "moving `{}` to tablespace `{}` copies all of it (a partitioned table has nothing to copy) while it is locked against reads and writes",
                            alter.relation.as_ref().map(qualified).unwrap_or_default(),
                            cmd.name
                        ),
                    )
                    .at(cmd.at),
                );
            }
        }
        for (s, node) in rev.nodes() {
            if let NodeEnum::AlterTableMoveAllStmt(m) = node {
                out.push(Hit::new(
                    s.index,
                    format!(
                        "moving everything in tablespace `{}` to `{}` copies each relation while it is locked against reads and writes",
                        m.orig_tablespacename, m.new_tablespacename
                    ),
                ));
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
    fn is_at_its_command_in_a_multi_line_alter() {
        let h = hits(
            "ALTER TABLE orders\n    ADD COLUMN note text,\n    SET TABLESPACE fast_ssd;",
            ID,
        );
        assert_eq!((h[0].line, h[0].column), (3, 5));
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

    #[test]
    fn leaves_an_index_of_a_new_table_alone() {
        for sql in [
            "CREATE TABLE t (a int); CREATE INDEX t_a ON t (a); ALTER INDEX t_a SET TABLESPACE fast_ssd;",
            "CREATE TABLE billing.t (a int); CREATE INDEX t_a ON billing.t (a); ALTER INDEX billing.t_a SET TABLESPACE fast_ssd;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
        for sql in [
            // A new index of an existing table holds an entry for every row.
            "CREATE INDEX orders_a ON orders (a); ALTER INDEX orders_a SET TABLESPACE fast_ssd;",
            "CREATE INDEX CONCURRENTLY orders_a ON orders (a); ALTER INDEX orders_a SET TABLESPACE fast_ssd;",
            "CREATE TABLE t (a int); CREATE INDEX IF NOT EXISTS t_a ON t (a); ALTER INDEX t_a SET TABLESPACE fast_ssd;",
            "ALTER INDEX t_a SET TABLESPACE fast_ssd; CREATE TABLE t (a int); CREATE INDEX t_a ON t (a);",
            // `t_a` unqualified may be another index than `billing.t_a`.
            "CREATE TABLE billing.t (a int); CREATE INDEX t_a ON billing.t (a); ALTER INDEX t_a SET TABLESPACE fast_ssd;",
        ] {
            assert_eq!(hits(sql, ID).len(), 1, "{sql}");
        }
    }
}
