//! `set-not-null`: ALTER COLUMN ... SET NOT NULL on an existing table scans
//! the whole table under an ACCESS EXCLUSIVE lock (blocking reads too).

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{AlterTableType, Revision, cmd_is, qualified};
use crate::{Category, Severity};

pub struct SetNotNull;

pub static INFO: RuleInfo = RuleInfo {
    id: "set-not-null",
    severity: Severity::Warning,
    category: Category::Locking,
    message: "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
    help: "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL 12+ \
           skips the scan thanks to the validated check) and drop the check",
};

impl Rule for SetNotNull {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        for (s, rel, cmds) in rev.alters_of_existing_tables() {
            for cmd in cmds.filter(|c| cmd_is(c, AlterTableType::AtSetNotNull)) {
                out.push(Hit::new(
                    s.index,
                    format!(
                        "SET NOT NULL on `{}`.`{}` scans the table under an ACCESS EXCLUSIVE lock",
                        qualified(rel),
                        cmd.name
                    ),
                ).at(cmd.at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    #[test]
    fn flags_set_not_null_on_existing_table() {
        assert_eq!(
            hits(
                "ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
                "set-not-null"
            )
            .len(),
            1
        );
        assert!(
            hits(
                "CREATE TABLE k (a int); ALTER TABLE k ALTER COLUMN a SET NOT NULL;",
                "set-not-null"
            )
            .is_empty()
        );
    }
}
