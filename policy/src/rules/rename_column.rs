//! `rename-column`: renaming a column breaks clients using the old name.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, qualified};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

pub struct RenameColumn;

pub static INFO: RuleInfo = RuleInfo {
    id: "rename-column",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "renaming a column breaks every running client that uses the old name",
    help: "add the new column, write both (or sync with a trigger), backfill, move readers, then \
           drop the old column in a later revision",
};

impl Rule for RenameColumn {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            let NodeEnum::RenameStmt(r) = node else {
                continue;
            };
            if r.rename_type == ObjectType::ObjectColumn as i32
                && rev.is_existing(r.relation.as_ref(), s.index)
            {
                let rel = r.relation.as_ref().map(qualified).unwrap_or_default();
                out.push(Hit::new(
                    s.index,
                    format!(
                        "renaming column `{}` of `{rel}` to `{}` breaks clients",
                        r.subname, r.newname
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
    fn flags_column_rename() {
        let h = hits(
            "ALTER TABLE kegs RENAME COLUMN vol TO volume_ml;",
            "rename-column",
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].message.contains("`vol`"));
        assert!(hits("ALTER TABLE kegs RENAME TO x;", "rename-column").is_empty());
    }
}
