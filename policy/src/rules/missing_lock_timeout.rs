//! `missing-lock-timeout`: a statement that takes a strong lock on an
//! existing table, with no `SET [LOCAL] lock_timeout` earlier in the revision.
//! Waiting for the lock queues every later query on the table behind the
//! migration, so an unbounded wait is an outage. Reported once, at the first
//! such statement. Hygiene: it does not raise the risk class, since the
//! statement itself is judged by the locking rules.

use super::{Hit, Rule, RuleInfo};
use crate::analysis::{Revision, strong_lock_target};
use crate::{Category, Severity};

pub struct MissingLockTimeout;

pub static INFO: RuleInfo = RuleInfo {
    id: "missing-lock-timeout",
    severity: Severity::Warning,
    category: Category::Hygiene,
    message: "locking statement on an existing table without a lock_timeout set earlier in the revision",
    help: "start the revision with `SET lock_timeout = '2s';` (or SET LOCAL) and retry on timeout, so a \
           long-running query cannot make the migration queue all traffic behind it",
};

impl Rule for MissingLockTimeout {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, rev: &Revision<'_>, out: &mut Vec<Hit>) {
        let first = rev
            .nodes()
            .filter(|(s, _)| !rev.lock_timeout_set_before(s.index))
            .find_map(|(s, n)| strong_lock_target(rev, s.index, n).map(|t| (s.index, t)));
        if let Some((index, locked)) = first {
            out.push(Hit::new(
                index,
                format!("statement locks {locked} with no lock_timeout set"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::hits;

    const ID: &str = "missing-lock-timeout";

    #[test]
    fn reported_once_at_first_locking_statement() {
        let h = hits(
            "CREATE TABLE a (id int); ALTER TABLE kegs ADD COLUMN x int; ALTER TABLE taps ADD COLUMN y int;",
            ID,
        );
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].statement_index, 1);
    }

    #[test]
    fn statements_that_lock_an_existing_table_without_altering_it_count() {
        for sql in [
            "CREATE POLICY tenant_read ON orders FOR SELECT USING (tenant_id = 1);",
            "CREATE TABLE measurements_2024_06 PARTITION OF measurements FOR VALUES FROM ('2024-06-01') TO ('2024-07-01');",
            "REFRESH MATERIALIZED VIEW daily_sales;",
            "ALTER TABLE invoices SET SCHEMA archive;",
            "ALTER POLICY tenant_read ON orders USING (false);",
            "DROP POLICY tenant_read ON orders;",
            "CREATE RULE r AS ON INSERT TO orders DO INSTEAD NOTHING;",
            "DROP RULE r ON public.orders;",
        ] {
            assert_eq!(hits(sql, ID).len(), 1, "{sql}");
        }
        assert!(
            hits(
                "SELECT set_config('lock_timeout', '2s', true); CREATE POLICY p ON orders USING (true);",
                ID
            )
            .is_empty()
        );
        assert!(
            hits(
                "CREATE TABLE t (id int); CREATE POLICY p ON t USING (true); DROP POLICY p ON t; CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING; DROP RULE r ON t;",
                ID
            )
            .is_empty()
        );
    }

    #[test]
    fn satisfied_by_earlier_set() {
        assert!(
            hits(
                "SET lock_timeout = '2s'; ALTER TABLE kegs ADD COLUMN x int;",
                ID
            )
            .is_empty()
        );
        assert!(hits("SET LOCAL lock_timeout TO 1000; DROP TABLE kegs;", ID).is_empty());
        assert_eq!(
            hits(
                "ALTER TABLE kegs ADD COLUMN x int; SET lock_timeout = '2s';",
                ID
            )
            .len(),
            1
        );
        assert_eq!(
            hits(
                "SET lock_timeout = 0; ALTER TABLE kegs ADD COLUMN x int;",
                ID
            )
            .len(),
            1
        );
    }

    #[test]
    fn ignores_new_tables_and_concurrent_index() {
        assert!(
            hits(
                "CREATE TABLE a (id int); CREATE INDEX ON a (id); ALTER TABLE a ADD COLUMN b int;",
                ID
            )
            .is_empty()
        );
        assert!(hits("CREATE INDEX CONCURRENTLY i ON kegs (tap_id);", ID).is_empty());
    }

    #[test]
    fn a_foreign_key_to_an_existing_table_locks_it_against_writes() {
        for sql in [
            "CREATE TABLE refunds (id int, order_id int REFERENCES orders (id));",
            "CREATE TABLE refunds (id int, order_id int, FOREIGN KEY (order_id) REFERENCES public.orders (id));",
            "CREATE TABLE refunds (id int); ALTER TABLE refunds ADD FOREIGN KEY (id) REFERENCES orders (id) NOT VALID;",
            "CREATE TABLE refunds (id int); ALTER TABLE refunds ADD COLUMN order_id int REFERENCES orders (id);",
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(
                h[0].message
                    .contains("orders` (against writes, for the foreign key"),
                "{sql}: {}",
                h[0].message
            );
        }
        // Between new tables, or after a lock_timeout: nothing to wait for.
        for sql in [
            "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (a_id int REFERENCES a (id));",
            "SET lock_timeout = '2s'; CREATE TABLE refunds (order_id int REFERENCES orders (id));",
            "CREATE TABLE refunds (id int, note text);",
        ] {
            assert!(hits(sql, ID).is_empty(), "{sql}");
        }
    }

    #[test]
    fn domain_checks_and_tablespace_moves_lock_tables_too() {
        for (sql, said) in [
            (
                "ALTER DOMAIN public.cents ADD CONSTRAINT positive CHECK (VALUE >= 0);",
                "statement locks every table using domain `public.cents`",
            ),
            (
                "ALTER DOMAIN cents VALIDATE CONSTRAINT positive;",
                "every table using domain `cents`",
            ),
            (
                "ALTER TABLE ALL IN TABLESPACE slow_hdd SET TABLESPACE fast_ssd;",
                "every table in tablespace `slow_hdd`",
            ),
            (
                "ALTER TABLE kegs ADD COLUMN x int;",
                "statement locks existing table `kegs` with no lock_timeout set",
            ),
        ] {
            let h = hits(sql, ID);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].message.contains(said), "{sql}: {}", h[0].message);
        }
        assert!(hits("ALTER DOMAIN cents DROP NOT NULL;", ID).is_empty());
        // No table that existed before uses a new domain.
        assert!(
            hits(
                "CREATE DOMAIN cents AS int; ALTER DOMAIN cents SET NOT NULL;",
                ID
            )
            .is_empty()
        );
    }
}
