//! What the earlier revisions of a lineage leave that the lint of a later
//! one depends on: the checks proving columns not null (a later SET NOT
//! NULL skips its scan; `set-not-null` teaches that pattern over separate
//! revisions) and the domains with their constraints and defaults (a
//! column added of such a domain rewrites its table), until dropped,
//! renamed or moved (followed to the new name). Anything else an
//! earlier revision did is not carried: a table it created counts as
//! existing, as any table the linter does not know.

use crate::analysis::{self, DomainConstraints};
use crate::parser_stack;

/// The lineage before a revision, as far as the lint follows it. Built by
/// folding the earlier revisions' up SQL in lineage order ([`then`]).
///
/// [`then`]: History::then
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub(crate) proofs: Vec<NotNullProof>,
    pub(crate) domains: DomainConstraints,
}

/// A CHECK an earlier revision added that proves columns of a table have
/// no nulls, and that no revision since dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NotNullProof {
    /// As written: empty when unqualified (made on the default search
    /// path).
    pub schema: String,
    pub table: String,
    pub constraint: String,
    pub columns: Vec<String>,
    /// The check tests nothing else.
    pub only_not_null: bool,
    /// Added without NOT VALID, or validated since.
    pub valid: bool,
}

impl History {
    /// SQL that can change a history mentions one of these words (in any
    /// case, possibly inside another word); SQL mentioning none is skipped
    /// unparsed, and a catalog can select the revisions worth reading by
    /// them.
    pub const KEYWORDS: [&str; 4] = ["check", "domain", "alter", "drop"];

    /// Folds in the next revision of the lineage, whose up SQL is `up_sql`.
    /// SQL that does not parse changes nothing: its revision cannot run.
    pub fn then(&mut self, up_sql: &str) {
        self.then_all([up_sql]);
    }

    /// Folds in the next revisions of the lineage, oldest first, on one
    /// parser thread. Should that thread fail, the history is emptied:
    /// without the revision it failed on, it could hold a check that
    /// revision dropped.
    pub fn then_all<'s>(&mut self, later: impl IntoIterator<Item = &'s str> + Send) {
        let folded = parser_stack::on_parser_stack(|| {
            for up_sql in later {
                self.fold(up_sql);
            }
        });
        if folded.is_err() {
            *self = History::default();
        }
    }

    /// The history of a lineage whose up SQL is `earlier`, oldest first.
    pub fn of<'s>(earlier: impl IntoIterator<Item = &'s str> + Send) -> History {
        let mut history = History::default();
        history.then_all(earlier);
        history
    }

    /// [`then`](History::then), on the caller's parser thread.
    pub(crate) fn fold(&mut self, up_sql: &str) {
        if !Self::KEYWORDS
            .iter()
            .any(|word| analysis::mentions(up_sql, word))
        {
            return;
        }
        if let Some(next) = analysis::history_after(self, up_sql) {
            *self = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::History;
    use crate::{LintConfig, Severity, lint_after};

    fn set_not_null(history: &History, sql: &str) -> Vec<crate::Finding> {
        lint_after(history, sql, Some("SELECT 1;"), &LintConfig::default())
            .findings
            .into_iter()
            .filter(|f| f.rule == "set-not-null")
            .collect()
    }

    #[test]
    fn a_check_validated_by_an_earlier_revision_proves_the_column() {
        let set = "SET lock_timeout = '2s';
ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
ALTER TABLE kegs DROP CONSTRAINT tap_nn;";
        for earlier in [
            &[
                "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;",
                "ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;",
            ][..],
            &["ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);"],
            // A new table's checks are valid, even written NOT VALID.
            &[
                "CREATE TABLE kegs (id int, tap_id int, CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL));",
            ],
            &[
                "CREATE TABLE kegs (id int, tap_id int CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL));",
            ],
            &[
                "CREATE TABLE kegs (tap_id int, CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID);",
            ],
            // Unrelated revisions in between change nothing.
            &[
                "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;",
                "CREATE TABLE taps (id int);",
                "ALTER TABLE taps ADD COLUMN name text; DROP TABLE old_taps;",
                "ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;",
            ],
        ] {
            let history = History::of(earlier.iter().copied());
            let found = set_not_null(&history, set);
            assert_eq!(found.len(), 1, "{earlier:?}");
            assert_eq!(found[0].severity, Severity::Info, "{earlier:?}");
            assert!(
                found[0].message.contains("since an earlier revision"),
                "{}",
                found[0].message
            );
            // Dropping the check that proved the column is not a finding.
            let report = lint_after(&history, set, Some("SELECT 1;"), &LintConfig::default());
            assert!(
                report.findings.iter().all(|f| f.rule != "drop-constraint"),
                "{:?}",
                report.findings
            );
            assert_eq!(report.risk, crate::RiskClass::Additive);
        }
    }

    #[test]
    fn an_unnamed_check_of_a_new_table_proves_the_column_until_a_constraint_is_dropped() {
        let history =
            History::of(["CREATE TABLE kegs (id int, tap_id int CHECK (tap_id IS NOT NULL));"]);
        let set = "ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;";
        let found = set_not_null(&history, set);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Info);
        assert!(
            found[0].message.contains("a CHECK (tap_id IS NOT NULL)"),
            "{}",
            found[0].message
        );
        // Its name is PostgreSQL's choice: any constraint dropped from the
        // table may be it, in an earlier revision or with the SET NOT NULL.
        for dropped in [
            "ALTER TABLE kegs DROP CONSTRAINT kegs_tap_id_check;",
            "ALTER TABLE kegs DROP CONSTRAINT kegs_tap_id_check1;",
        ] {
            let mut after = history.clone();
            after.then(dropped);
            assert_eq!(
                set_not_null(&after, set)[0].severity,
                Severity::Warning,
                "{dropped}"
            );
        }
        let found = set_not_null(
            &history,
            "ALTER TABLE kegs DROP CONSTRAINT kegs_tap_id_check, ALTER COLUMN tap_id SET NOT NULL;",
        );
        assert_eq!(found[0].severity, Severity::Warning);
        // Another table's dropped constraint leaves it standing.
        let mut after = history.clone();
        after.then("ALTER TABLE taps DROP CONSTRAINT taps_id_check;");
        assert_eq!(set_not_null(&after, set)[0].severity, Severity::Info);
    }

    #[test]
    fn the_validation_may_come_in_the_revision_itself() {
        let history = History::of([
            "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;",
        ]);
        let found = set_not_null(
            &history,
            "ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;
ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Info);
        assert!(found[0].message.contains("earlier in this revision"));
    }

    #[test]
    fn an_earlier_check_no_longer_standing_proves_nothing() {
        for earlier in [
            // Never validated.
            &["ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;"][..],
            // Dropped, with its column, its table or its schema.
            &[
                "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);",
                "ALTER TABLE kegs DROP CONSTRAINT tap_nn;",
            ],
            &[
                "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);",
                "ALTER TABLE kegs DROP COLUMN tap_id; ALTER TABLE kegs ADD COLUMN tap_id int;",
            ],
            &[
                "ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);",
                "DROP TABLE kegs; CREATE TABLE kegs (tap_id int);",
            ],
            &[
                "ALTER TABLE public.kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);",
                "DROP SCHEMA public CASCADE;",
            ],
            // Another table's, or made under another search path.
            &["ALTER TABLE taps ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);"],
            &[
                "SET search_path = archive; ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL);",
            ],
            // A condition PostgreSQL does not take as proof.
            &["ALTER TABLE kegs ADD CONSTRAINT tap_pos CHECK (tap_id > 0);"],
            &["CREATE TABLE kegs (tap_id int CHECK (tap_id > 0 OR tap_id IS NOT NULL));"],
            // A table that may have existed before, with other checks; a
            // check its children do not inherit.
            &["CREATE TABLE IF NOT EXISTS kegs (tap_id int CHECK (tap_id IS NOT NULL));"],
            &["CREATE TABLE kegs (tap_id int CHECK (tap_id IS NOT NULL) NO INHERIT);"],
        ] {
            let history = History::of(earlier.iter().copied());
            let found = set_not_null(
                &history,
                "ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;",
            );
            assert_eq!(found.len(), 1, "{earlier:?}");
            assert_eq!(found[0].severity, Severity::Warning, "{earlier:?}");
        }
    }

    #[test]
    fn a_domain_of_an_earlier_revision_is_known() {
        let history = History::of([
            "CREATE DOMAIN stamp AS timestamptz DEFAULT clock_timestamp();",
            "CREATE DOMAIN positive AS int CHECK (VALUE > 0);",
        ]);
        let report = lint_after(
            &history,
            "SET lock_timeout = '2s';
ALTER TABLE kegs ADD COLUMN tapped_at stamp;
ALTER TABLE kegs ADD COLUMN volume positive;",
            Some("SELECT 1;"),
            &LintConfig::default(),
        );
        let rules: Vec<(&str, u32)> = report.findings.iter().map(|f| (f.rule, f.line)).collect();
        assert!(
            rules.contains(&("add-column-volatile-default", 2)),
            "{rules:?}"
        );
        assert!(rules.iter().any(|(_, line)| *line == 3), "{rules:?}");
        // Without the lineage, neither domain is known.
        let alone = crate::lint(
            "SET lock_timeout = '2s';
ALTER TABLE kegs ADD COLUMN tapped_at stamp;
ALTER TABLE kegs ADD COLUMN volume positive;",
            Some("SELECT 1;"),
            &LintConfig::default(),
        );
        assert!(alone.findings.is_empty(), "{:?}", alone.findings);
        // A default dropped since no longer counts.
        let dropped = History::of([
            "CREATE DOMAIN stamp AS timestamptz DEFAULT clock_timestamp();",
            "ALTER DOMAIN stamp DROP DEFAULT;",
        ]);
        assert!(
            lint_after(
                &dropped,
                "SET lock_timeout = '2s'; ALTER TABLE kegs ADD COLUMN tapped_at stamp;",
                Some("SELECT 1;"),
                &LintConfig::default(),
            )
            .findings
            .is_empty()
        );
    }

    /// The lines of `sql` that a column added of a domain with a default or
    /// a constraint makes findings on, after `history` (the rule flags
    /// both: each rewrites the table).
    fn rewrite_lines(history: &History, sql: &str) -> Vec<u32> {
        lint_after(
            history,
            &format!("SET lock_timeout = '2s';\n{sql}"),
            Some("SELECT 1;"),
            &LintConfig::default(),
        )
        .findings
        .iter()
        .filter(|f| f.rule == "add-column-volatile-default")
        .map(|f| f.line)
        .collect()
    }

    /// A column of each domain of the tests below, on lines 2 and 3.
    const ADD_BOTH: &str = "ALTER TABLE kegs ADD COLUMN tapped_at stamp;
ALTER TABLE kegs ADD COLUMN volume positive;";

    #[test]
    fn a_domain_dropped_or_renamed_away_no_longer_counts() {
        let made = [
            "CREATE DOMAIN stamp AS timestamptz DEFAULT clock_timestamp();",
            "CREATE DOMAIN positive AS int CHECK (VALUE > 0);",
        ];
        // As made, both columns are flagged.
        assert_eq!(rewrite_lines(&History::of(made), ADD_BOTH), [2, 3]);
        for gone in [
            "DROP DOMAIN stamp, positive; CREATE DOMAIN stamp AS timestamptz; CREATE DOMAIN positive AS int;",
            "DROP DOMAIN IF EXISTS stamp CASCADE; DROP DOMAIN positive; CREATE DOMAIN stamp AS timestamptz; CREATE DOMAIN positive AS int;",
            // Renamed away, and other domains made under the old names.
            "ALTER DOMAIN stamp RENAME TO old_stamp; ALTER DOMAIN positive RENAME TO old_positive; CREATE DOMAIN stamp AS timestamptz; CREATE DOMAIN positive AS int;",
        ] {
            let history = History::of(made.into_iter().chain([gone]));
            assert_eq!(
                rewrite_lines(&history, ADD_BOTH),
                Vec::<u32>::new(),
                "{gone}"
            );
            // Within one revision, too, from the drop on.
            assert_eq!(
                rewrite_lines(&History::of(made), &format!("{gone}\n{ADD_BOTH}")),
                Vec::<u32>::new(),
                "{gone}"
            );
        }
        // A rename or a move takes what the domain has along.
        for moved in [
            "ALTER DOMAIN stamp RENAME TO made_at; ALTER DOMAIN positive RENAME TO amount;",
            "ALTER DOMAIN stamp SET SCHEMA archive; ALTER DOMAIN positive SET SCHEMA archive;",
        ] {
            let history = History::of(made.into_iter().chain([moved]));
            let (stamp, positive) = if moved.contains("RENAME") {
                ("made_at", "amount")
            } else {
                ("archive.stamp", "archive.positive")
            };
            let rules = rewrite_lines(
                &history,
                &format!(
                    "ALTER TABLE kegs ADD COLUMN tapped_at {stamp};\nALTER TABLE kegs ADD COLUMN volume {positive};"
                ),
            );
            assert_eq!(rules, [2, 3], "{moved}");
        }
    }

    #[test]
    fn a_drop_that_may_mean_another_domain_ends_nothing() {
        let made = [
            "CREATE DOMAIN stamp AS timestamptz DEFAULT clock_timestamp();",
            "CREATE DOMAIN public.positive AS int CHECK (VALUE > 0);",
        ];
        for other in [
            // Another schema's domains of those names.
            "DROP DOMAIN archive.stamp, archive.positive;",
            // Unqualified, on another search path.
            "SET search_path = archive; DROP DOMAIN stamp, positive; RESET search_path;",
            // The unqualified `positive` may be public's, or not.
            "DROP DOMAIN positive; DROP SCHEMA archive CASCADE;",
        ] {
            let history = History::of(made.into_iter().chain([other]));
            assert_eq!(rewrite_lines(&history, ADD_BOTH), [2, 3], "{other}");
        }
        // Its schema dropped, the qualified one is gone.
        let history = History::of(made.into_iter().chain(["DROP SCHEMA public CASCADE;"]));
        assert_eq!(
            rewrite_lines(
                &history,
                "ALTER TABLE kegs ADD COLUMN volume public.positive;"
            ),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn sql_without_a_keyword_is_not_parsed_and_bad_sql_changes_nothing() {
        let mut history = History::of(["CREATE DOMAIN stamp AS timestamptz DEFAULT now();"]);
        assert_ne!(history, History::default());
        let before = history.clone();
        history.then("CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
        history.then("ALTER TABLE (");
        assert_eq!(history, before);
    }
}
