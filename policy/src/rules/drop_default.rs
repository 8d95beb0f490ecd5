//! `drop-default`: ALTER COLUMN ... DROP DEFAULT (or SET DEFAULT NULL,
//! which PostgreSQL stores as no default), and ALTER COLUMN ... DROP
//! EXPRESSION of a generated column. Running clients that omit the column
//! on INSERT start failing (NOT NULL) or storing NULLs.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Const, Revision, cmd_is, const_value, qualified};
use crate::{Category, Severity};

pub struct DropDefault;

pub static INFO: RuleInfo = RuleInfo {
    id: "drop-default",
    severity: Severity::Warning,
    category: Category::Destructive,
    message: "dropping a default (or a generated column's expression) breaks inserts from clients that rely on it",
    help: "release clients that always provide the value first; then drop the default (for a \
           generated column, release clients that write the value themselves before DROP \
           EXPRESSION)",
};

impl Rule for DropDefault {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds {
                let column = format!("`{}`.`{}`", qualified(rel), cmd.name);
                let message = if cmd_is(&cmd, AlterTableType::AtColumnDefault) {
                    // SET DEFAULT and DROP DEFAULT share a subtype; DROP has
                    // no expression, and PostgreSQL stores no default for
                    // SET DEFAULT NULL either.
                    match cmd.def.as_deref() {
                        None => format!("dropping the default of {column}"),
                        Some(d) if const_value(d) == Some(Const::Null) => format!(
                            "SET DEFAULT NULL drops the default of {column}: inserts that leave it out store NULL (or fail on NOT NULL)"
                        ),
                        Some(_) => continue,
                    }
                } else if cmd_is(&cmd, AlterTableType::AtDropExpression) {
                    format!(
                        "DROP EXPRESSION makes {column} a plain column: it is no longer computed, so updated rows keep a stale value and inserted rows store NULL unless the client writes it"
                    )
                } else {
                    continue;
                };
                out.push(Hit::new(s.index, message).at(cmd.at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_drop_default_only() {
        assert_eq!(
            hits(
                "ALTER TABLE kegs ALTER COLUMN status DROP DEFAULT;",
                "drop-default"
            )
            .len(),
            1
        );
        assert!(
            hits(
                "ALTER TABLE kegs ALTER COLUMN status SET DEFAULT 'full';",
                "drop-default"
            )
            .is_empty()
        );
    }

    #[test]
    fn set_default_null_and_drop_expression_drop_the_default_too() {
        for (sql, start) in [
            (
                "ALTER TABLE kegs ALTER COLUMN status SET DEFAULT NULL;",
                "SET DEFAULT NULL drops the default of `kegs`.`status`",
            ),
            (
                "ALTER TABLE kegs ALTER status SET DEFAULT NULL::text;",
                "SET DEFAULT NULL drops",
            ),
            (
                "ALTER TABLE kegs ALTER COLUMN volume_l DROP EXPRESSION;",
                "DROP EXPRESSION makes `kegs`.`volume_l` a plain column",
            ),
        ] {
            let h = hits(sql, "drop-default");
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.starts_with(start), "{sql}: {}", h[0].message);
        }
        for sql in [
            "ALTER TABLE kegs ALTER COLUMN status SET DEFAULT 'null';",
            "CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2) STORED); ALTER TABLE t ALTER COLUMN b DROP EXPRESSION; ALTER TABLE t ALTER COLUMN a SET DEFAULT NULL;",
        ] {
            assert!(hits(sql, "drop-default").is_empty(), "{sql}");
        }
    }
}
