//! `rename-table`: renaming a table (or view) breaks every deployed client
//! that still uses the old name, at the instant the migration commits.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

pub struct RenameTable;

pub static INFO: RuleInfo = RuleInfo {
    id: "rename-table",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "renaming a table breaks every running client that uses the old name",
    help: "create the new table (or an updatable view under the new name), migrate clients, then \
           retire the old name in a later revision",
};

impl Rule for RenameTable {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            // ALTER TABLE ... SET SCHEMA moves the name as much as a rename.
            if let NodeEnum::AlterObjectSchemaStmt(moved) = node
                && matches!(
                    ObjectType::try_from(moved.object_type),
                    Ok(ObjectType::ObjectTable
                        | ObjectType::ObjectView
                        | ObjectType::ObjectMatview
                        | ObjectType::ObjectForeignTable)
                )
                && rev.is_existing(moved.relation.as_ref(), s.index)
            {
                let old = moved.relation.as_ref().map(qualified).unwrap_or_default();
                out.push(Hit::new(
                    s.index,
                    format!(
                        "moving `{old}` to schema `{}` breaks clients using `{old}`",
                        moved.newschema
                    ),
                ));
                continue;
            }
            let NodeEnum::RenameStmt(r) = node else {
                continue;
            };
            let renames_relation = matches!(
                ObjectType::try_from(r.rename_type),
                Ok(ObjectType::ObjectTable
                    | ObjectType::ObjectView
                    | ObjectType::ObjectMatview
                    | ObjectType::ObjectForeignTable)
            );
            if renames_relation && rev.is_existing(r.relation.as_ref(), s.index) {
                let old = r.relation.as_ref().map(qualified).unwrap_or_default();
                out.push(Hit::new(
                    s.index,
                    format!(
                        "renaming `{old}` to `{}` breaks clients using `{old}`",
                        r.newname
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_a_move_to_another_schema() {
        let h = hits(
            "ALTER TABLE public.old_invoices SET SCHEMA archive;",
            "rename-table",
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].message.contains("to schema `archive`"),
            "{}",
            h[0].message
        );
        assert!(
            hits(
                "CREATE TABLE t (id int); ALTER TABLE t SET SCHEMA archive;",
                "rename-table"
            )
            .is_empty()
        );
    }

    #[test]
    fn flags_table_and_view_renames() {
        assert_eq!(
            hits("ALTER TABLE kegs RENAME TO barrels;", "rename-table").len(),
            1
        );
        assert_eq!(hits("ALTER VIEW v RENAME TO w;", "rename-table").len(), 1);
        assert!(hits("ALTER TABLE kegs RENAME COLUMN a TO b;", "rename-table").is_empty());
        assert!(
            hits(
                "CREATE TABLE t (a int); ALTER TABLE t RENAME TO u;",
                "rename-table"
            )
            .is_empty()
        );
        assert!(
            hits(
                "CREATE VIEW v AS SELECT 1 AS one; ALTER VIEW v RENAME TO w;",
                "rename-table"
            )
            .is_empty()
        );
        assert_eq!(
            hits(
                "CREATE OR REPLACE VIEW v AS SELECT 1 AS one; ALTER VIEW v RENAME TO w;",
                "rename-table"
            )
            .len(),
            1
        );
    }
}
