//! The rule registry: the `Rule` trait, the metadata every rule carries and
//! `RULES`, the ordered list the linter runs (and `sgctl` lists).
//!
//! One rule per file. A rule sees the whole revision (most only look at one
//! statement at a time) and pushes `Hit`s; the engine turns hits into located
//! findings and applies exemptions.

use crate::analysis::Revision;
use crate::{Category, Severity};

pub mod add_column_not_null_without_default;
pub mod add_column_volatile_default;
pub mod add_unique_constraint;
pub mod alter_column_type;
pub mod cluster;
pub mod constraint_missing_not_valid;
pub mod create_index_non_concurrently;
pub mod create_table_partition_of;
pub mod delete_without_where;
pub mod denied_table;
pub mod disable_trigger;
pub mod do_block;
pub mod drop_column;
pub mod drop_constraint;
pub mod drop_default;
pub mod drop_index;
pub mod drop_not_null;
pub mod drop_object;
pub mod drop_schema;
pub mod drop_table;
pub mod invalid_exemption;
pub mod lock_table;
pub mod missing_down_migration;
pub mod missing_lock_timeout;
pub mod non_transactional_statement;
pub mod partition_attach_detach;
pub mod refresh_materialized_view;
pub mod reindex_non_concurrently;
pub mod rename_column;
pub mod rename_object;
pub mod rename_table;
pub mod replica_identity;
pub mod restrict_access;
pub mod rewrite_rule;
pub mod sequence_change;
pub mod set_access_method;
pub mod set_logged;
pub mod set_not_null;
pub mod set_tablespace;
pub mod transaction_control;
pub mod truncate_table;
pub mod unused_exemption;
pub mod update_without_where;
pub mod vacuum_full;

/// Static description of a rule.
#[derive(Clone, Copy, Debug)]
pub struct RuleInfo {
    /// Stable kebab-case id, used in output and in `schemagate:allow`.
    pub id: &'static str,
    pub severity: Severity,
    pub category: Category,
    /// Default message (a hit may give a more specific one).
    pub message: &'static str,
    /// How to do the same thing safely.
    pub help: &'static str,
}

/// What a rule reports: which statement, optionally a specific message, a
/// severity other than the rule's default, or a position other than the
/// statement start.
#[derive(Clone, Debug, Default)]
pub struct Hit {
    pub statement: usize,
    pub message: Option<String>,
    pub severity: Option<Severity>,
    pub at: Option<usize>,
}

impl Hit {
    pub fn new(statement: usize, message: impl Into<String>) -> Self {
        Hit {
            statement,
            message: Some(message.into()),
            ..Hit::default()
        }
    }

    /// The hit at byte offset `at` of the source (a subcommand's start)
    /// rather than at the statement's start, when known.
    pub fn at(self, at: Option<usize>) -> Self {
        Hit {
            at: at.or(self.at),
            ..self
        }
    }
}

pub trait Rule: Sync {
    fn info(&self) -> &'static RuleInfo;

    /// Inspects the revision and pushes one hit per violation.
    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>);

    fn id(&self) -> &'static str {
        self.info().id
    }
    fn severity(&self) -> Severity {
        self.info().severity
    }
    fn category(&self) -> Category {
        self.info().category
    }
    fn message(&self) -> &'static str {
        self.info().message
    }
    fn help(&self) -> &'static str {
        self.info().help
    }
    /// Meta rules about exemptions themselves cannot be silenced by one.
    fn exemptible(&self) -> bool {
        true
    }
}

/// Every rule, in reporting order.
pub static RULES: &[&dyn Rule] = &[
    // destructive
    &drop_table::DropTable,
    &drop_column::DropColumn,
    &drop_schema::DropSchema,
    &drop_object::DropObject,
    &drop_index::DropIndex,
    &drop_constraint::DropConstraint,
    &truncate_table::TruncateTable,
    &delete_without_where::DeleteWithoutWhere,
    &update_without_where::UpdateWithoutWhere,
    &rename_table::RenameTable,
    &rename_column::RenameColumn,
    &rename_object::RenameObject,
    &alter_column_type::AlterColumnType,
    &drop_default::DropDefault,
    &drop_not_null::DropNotNull,
    &restrict_access::RestrictAccess,
    &rewrite_rule::RewriteRule,
    &sequence_change::SequenceChange,
    &disable_trigger::DisableTrigger,
    // locking
    &create_index_non_concurrently::CreateIndexNonConcurrently,
    &constraint_missing_not_valid::ConstraintMissingNotValid,
    &add_unique_constraint::AddUniqueConstraint,
    &set_not_null::SetNotNull,
    &add_column_volatile_default::AddColumnVolatileDefault,
    &add_column_not_null_without_default::AddColumnNotNullWithoutDefault,
    &vacuum_full::VacuumFull,
    &cluster::Cluster,
    &reindex_non_concurrently::ReindexNonConcurrently,
    &lock_table::LockTable,
    &set_logged::SetLogged,
    &set_access_method::SetAccessMethod,
    &set_tablespace::SetTablespace,
    &partition_attach_detach::PartitionAttachDetach,
    &create_table_partition_of::CreateTablePartitionOf,
    &replica_identity::ReplicaIdentity,
    &refresh_materialized_view::RefreshMaterializedView,
    &do_block::DoBlock,
    // hygiene
    &missing_lock_timeout::MissingLockTimeout,
    &non_transactional_statement::NonTransactionalStatement,
    &transaction_control::TransactionControl,
    &missing_down_migration::MissingDownMigration,
    &denied_table::DeniedTable,
    &invalid_exemption::InvalidExemption,
    &unused_exemption::UnusedExemption,
];

pub fn rule_by_id(id: &str) -> Option<&'static dyn Rule> {
    RULES.iter().copied().find(|r| r.id() == id)
}

/// Position of a rule in `RULES`; only called with ids of rules that exist.
pub(crate) fn position(id: &str) -> usize {
    RULES.iter().position(|r| r.id() == id).unwrap_or(0)
}

/// Test helper: the findings of one rule only.
#[cfg(test)]
pub(crate) fn hits(sql: &str, rule: &str) -> Vec<crate::Finding> {
    let report = crate::lint(sql, Some("SELECT 1;"), &crate::LintConfig::default());
    assert!(report.parse_error.is_none(), "{:?}", report.parse_error);
    report
        .findings
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_kebab_case_and_documented() {
        let mut seen = HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.id()), "duplicate id {}", r.id());
            assert!(
                r.id()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()),
                "{} is not kebab-case",
                r.id()
            );
            assert!(
                !r.message().is_empty() && !r.help().is_empty(),
                "{}",
                r.id()
            );
            assert_eq!(rule_by_id(r.id()).map(|x| x.id()), Some(r.id()));
        }
        assert!(rule_by_id("no-such-rule").is_none());
    }
}
