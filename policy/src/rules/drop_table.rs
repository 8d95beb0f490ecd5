//! `drop-table`: DROP TABLE on a table that existed before the revision.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, drop_names, drop_type};
use crate::{Category, Severity};
use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

pub struct DropTable;

pub static INFO: RuleInfo = RuleInfo {
    id: "drop-table",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "dropping a table deletes its data and breaks every client still using it",
    help: "stop all reads and writes in a released version first, keep the data (rename to a \
           `_deprecated` name or archive it), and drop it in a later revision with an exemption",
};

impl Rule for DropTable {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, node) in rev.nodes() {
            let NodeEnum::DropStmt(d) = node else {
                continue;
            };
            if drop_type(d) != ObjectType::ObjectTable {
                continue;
            }
            let existing: Vec<String> = drop_names(d)
                .into_iter()
                .filter(|n| rev.is_existing_name(n, s.index))
                .collect();
            if !existing.is_empty() {
                out.push(Hit::new(
                    s.index,
                    format!(
                        "DROP TABLE {} deletes the table and its data",
                        existing.join(", ")
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
    fn flags_drop_table() {
        let h = hits("DROP TABLE kegs;", "drop-table");
        assert_eq!(h.len(), 1);
        assert!(h[0].message.contains("kegs"));
        assert_eq!(
            hits("DROP TABLE IF EXISTS a.kegs, b CASCADE;", "drop-table").len(),
            1
        );
    }

    #[test]
    fn ignores_other_drops_and_new_tables() {
        assert!(hits("DROP VIEW kegs_v;", "drop-table").is_empty());
        assert!(hits("CREATE TABLE tmp (id int); DROP TABLE tmp;", "drop-table").is_empty());
    }

    #[test]
    fn ignores_text_in_function_bodies() {
        let sql = "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE kegs; END $$;";
        assert!(hits(sql, "drop-table").is_empty());
    }
}
