//! `alter-column-type`: ALTER COLUMN ... TYPE on an existing table.
//!
//! Without the old type we cannot tell a binary-coercible widening
//! (varchar(10) -> varchar(20)) from a narrowing or a full rewrite, nor a
//! change that keeps values but breaks clients (int -> text turns sums and
//! comparisons into errors), so every type change on an existing table is
//! destructive. The message says what the new type implies where it can.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, column_def, qualified};
use crate::{Category, Severity};

pub struct AlterColumnType;

pub static INFO: RuleInfo = RuleInfo {
    id: "alter-column-type",
    severity: Severity::Error,
    category: Category::Destructive,
    message: "changing a column's type can lose data (narrowing, lossy USING) and usually rewrites the table under an ACCESS EXCLUSIVE lock",
    help: "add a new column of the new type, backfill it in batches, switch clients over, then drop \
           the old column; only binary-coercible widenings (e.g. varchar(n) -> text) are cheap",
};

impl Rule for AlterColumnType {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtAlterColumnType)) {
                let column = column_def(cmd.def.as_deref());
                let ty = column
                    .and_then(|c| c.type_name.as_ref())
                    .map(type_text)
                    .unwrap_or_default();
                let lossless = column.is_some_and(|c| c.raw_default.is_none())
                    && matches!(ty.as_str(), "text" | "varchar");
                let target = format!("`{}`.`{}`", qualified(rel), cmd.name);
                let message = if lossless {
                    format!(
                        "changing the type of {target} to {ty} keeps every value, but breaks clients that use it as its old type (sums, comparisons, ordering) unless it was textual already, and rewrites the table unless it was text or varchar"
                    )
                } else {
                    format!(
                        "changing the type of {target} to {ty} may lose data and rewrite the table"
                    )
                };
                out.push(Hit::new(s.index, message).at(cmd.at));
            }
        }
    }
}

/// The type as a reviewer tells widening from narrowing by: its name with
/// its modifiers and array bounds, `varchar(100)`, `numeric(12,2)`, `int4[]`.
fn type_text(t: &pg_query::protobuf::TypeName) -> String {
    use pg_query::NodeEnum;
    use pg_query::protobuf::a_const::Val;
    let mut text = t
        .names
        .iter()
        .filter_map(crate::analysis::string_value)
        .filter(|n| *n != "pg_catalog")
        .collect::<Vec<_>>()
        .join(".");
    let modifiers: Vec<String> = t
        .typmods
        .iter()
        .filter_map(|m| match m.node.as_ref() {
            Some(NodeEnum::AConst(c)) => match &c.val {
                Some(Val::Ival(i)) => Some(i.ival.to_string()),
                Some(Val::Sval(s)) => Some(s.sval.clone()),
                Some(Val::Fval(f)) => Some(f.fval.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if !modifiers.is_empty() {
        text.push_str(&format!("({})", modifiers.join(",")));
    }
    for _ in &t.array_bounds {
        text.push_str("[]");
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_type_change() {
        let h = hits(
            "ALTER TABLE pour_records ALTER COLUMN volume_ml TYPE integer USING volume_ml::int;",
            "alter-column-type",
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].message.contains("int4"), "{}", h[0].message);
        // The modifiers tell a widening from a narrowing.
        let h = hits(
            "ALTER TABLE customers ALTER COLUMN display_name TYPE varchar(100);",
            "alter-column-type",
        );
        assert!(h[0].message.contains("to varchar(100)"), "{}", h[0].message);
        let h = hits(
            "ALTER TABLE invoices ALTER COLUMN total TYPE numeric(12, 2)[];",
            "alter-column-type",
        );
        assert!(
            h[0].message.contains("to numeric(12,2)[]"),
            "{}",
            h[0].message
        );
        assert_eq!(
            hits(
                "ALTER TABLE t ALTER COLUMN a SET DATA TYPE text USING '';",
                "alter-column-type"
            )[0]
            .category,
            crate::Category::Destructive
        );
        assert!(
            hits(
                "CREATE TABLE t (a int); ALTER TABLE t ALTER COLUMN a TYPE bigint;",
                "alter-column-type"
            )
            .is_empty()
        );
    }

    #[test]
    fn a_change_to_unbounded_text_keeps_values_but_stays_destructive() {
        for sql in [
            "ALTER TABLE order_lines ALTER COLUMN quantity TYPE text;",
            "ALTER TABLE customers ALTER COLUMN display_name SET DATA TYPE varchar;",
            "ALTER TABLE customers ALTER COLUMN display_name TYPE character varying;",
        ] {
            let h = hits(sql, "alter-column-type");
            assert_eq!(h.len(), 1, "{sql}");
            assert_eq!(h[0].category, crate::Category::Destructive, "{sql}");
            assert!(
                h[0].message
                    .contains("keeps every value, but breaks clients"),
                "{sql}"
            );
        }
        for sql in [
            "ALTER TABLE customers ALTER COLUMN display_name TYPE varchar(100);",
            "ALTER TABLE customers ALTER COLUMN tags TYPE text[];",
            "ALTER TABLE customers ALTER COLUMN display_name TYPE text USING left(display_name, 3);",
        ] {
            assert!(
                hits(sql, "alter-column-type")[0]
                    .message
                    .contains("may lose data"),
                "{sql}"
            );
        }
    }
}
