//! `set-access-method`: ALTER TABLE (or MATERIALIZED VIEW) ... SET ACCESS
//! METHOD rewrites the whole relation into the new table access method
//! under an ACCESS EXCLUSIVE lock.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
use crate::{Category, Severity};
use pg_query::protobuf::ObjectType;

pub struct SetAccessMethod;

pub static INFO: RuleInfo = RuleInfo {
    id: "set-access-method",
    severity: Severity::Error,
    category: Category::Locking,
    message: "SET ACCESS METHOD rewrites the whole table and blocks all reads and writes meanwhile",
    help: "create a new table with `USING <method>`, copy the rows over in batches and switch \
           clients to it; `default_table_access_method` only applies to tables created later",
};

impl Rule for SetAccessMethod {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        // A materialized view is rewritten the same way.
        let rewritten = |objtype: i32| {
            matches!(
                ObjectType::try_from(objtype),
                Ok(ObjectType::ObjectTable | ObjectType::ObjectMatview)
            )
        };
        for (s, alter, cmds) in rev.alters() {
            if !rewritten(alter.objtype) || !rev.is_existing(alter.relation.as_ref(), s.index) {
                continue;
            }
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtSetAccessMethod)) {
                let method = if cmd.name.is_empty() {
                    "DEFAULT"
                } else {
                    cmd.name.as_str()
                };
                out.push(
                    Hit::new(
                        s.index,
                        format!(
                            "SET ACCESS METHOD {} rewrites `{}` (unless it uses that method already) while it is locked against reads and writes",
                            method,
                            alter.relation.as_ref().map(qualified).unwrap_or_default()
                        ),
                    )
                    .at(cmd.at),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "set-access-method";

    #[test]
    fn flags_a_change_of_access_method_of_an_existing_table() {
        let h = hits(
            "ALTER TABLE orders\n    ADD COLUMN note text,\n    SET ACCESS METHOD columnar;",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message
                .starts_with("SET ACCESS METHOD columnar rewrites `orders`"),
            "{}",
            h[0].message
        );
        assert_eq!((h[0].line, h[0].column), (3, 5));
        assert_eq!(
            hits(
                "ALTER MATERIALIZED VIEW daily_sales SET ACCESS METHOD heap2;",
                ID
            )
            .len(),
            1
        );
    }

    #[test]
    fn leaves_new_tables_and_other_commands_alone() {
        for sql in [
            "CREATE TABLE t (id int); ALTER TABLE t SET ACCESS METHOD heap2;",
            "CREATE TABLE t (id int) USING heap2;",
            "CREATE TABLE t (id int); ALTER TABLE t SET ACCESS METHOD DEFAULT;",
            "ALTER TABLE orders SET TABLESPACE fast_ssd;",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }
}
