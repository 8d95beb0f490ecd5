//! Catalog row counts: what proves, when other transactions committed
//! between two readings of a target, that none of them changed the schema.
//!
//! Comparing snapshots ([`only_commit_between`](super::only_commit_between))
//! cannot tell an application's insert from DDL, and a product database
//! commits all the time. The catalogs can: a transaction that changed the
//! schema wrote a row of a catalog the stamp digests. Between a reading
//! before (its snapshot and the row count of each catalog) and a count
//! after, no transaction but one (`xid`, or none) changed those catalogs
//! when:
//!
//! - no row visible after was written by another transaction that had not
//!   finished in the snapshot before (that catches every insert and update);
//! - each catalog holds as many rows as before, plus what `xid` inserted,
//!   minus what it deleted, as its own statistics counters tell
//!   ([`CatalogWrites`]): a row another transaction deleted leaves no row to
//!   find, only a count one short;
//! - `xid` wrote no more rows than its counters say, so that counters that
//!   count nothing cannot prove anything.
//!
//! An in-place update (`VACUUM`, `ANALYZE`) writes no row version and is
//! not schema; the [catalog stamp](super::catalog_stamp) misses it too.

use super::stamp;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, BTreeSet};

/// How many rows each catalog the stamp digests holds in one snapshot, by
/// the catalog's oid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogRows(BTreeMap<String, i64>);

/// The rows one transaction inserted, updated and deleted in each catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogWrites(BTreeMap<String, Writes>);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Writes {
    inserted: i64,
    updated: i64,
    deleted: i64,
}

/// A count of the catalogs against a snapshot before it: see [`count`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counted {
    pub rows: CatalogRows,
    /// Per catalog, the rows the stamp digests that the counted transaction
    /// wrote.
    written: BTreeMap<String, i64>,
    /// Other transactions that wrote a row the stamp digests, from the
    /// snapshot before's `xmin` on (32-bit ids, as `xmin` holds them).
    newer: BTreeSet<u32>,
}

impl CatalogWrites {
    /// What one transaction wrote, from [`stamp::CATALOG_WRITES`] read at
    /// its start and at its end; `None` when either is missing (the counters
    /// were off) or does not parse.
    pub fn between(start: Option<&str>, end: Option<&str>) -> Option<CatalogWrites> {
        let parse = |text: &str| -> Option<BTreeMap<String, Writes>> {
            fields(text)?
                .into_iter()
                .map(|(name, values)| match values.as_slice() {
                    [inserted, updated, deleted] => Some((
                        name,
                        Writes {
                            inserted: inserted.parse().ok()?,
                            updated: updated.parse().ok()?,
                            deleted: deleted.parse().ok()?,
                        },
                    )),
                    _ => None,
                })
                .collect()
        };
        let (start, end) = (parse(start?)?, parse(end?)?);
        if start.len() != end.len() {
            return None;
        }
        end.into_iter()
            .map(|(name, end)| {
                let start = start.get(&name)?;
                Some((
                    name,
                    Writes {
                        inserted: end.inserted - start.inserted,
                        updated: end.updated - start.updated,
                        deleted: end.deleted - start.deleted,
                    },
                ))
            })
            .collect::<Option<_>>()
            .map(CatalogWrites)
    }
}

impl CatalogRows {
    /// The counts after a transaction that wrote `writes` and was the only
    /// one to commit since these were counted.
    pub fn after(&self, writes: &CatalogWrites) -> Option<CatalogRows> {
        if self.0.len() != writes.0.len() {
            return None;
        }
        self.0
            .iter()
            .map(|(name, rows)| {
                let writes = writes.0.get(name)?;
                Some((name.clone(), rows + writes.inserted - writes.deleted))
            })
            .collect::<Option<_>>()
            .map(CatalogRows)
    }
}

/// `key=a,b,c;...` split into keys (catalogs' oids) and their values.
fn fields(text: &str) -> Option<Vec<(String, Vec<&str>)>> {
    text.split(';')
        .map(|part| {
            let (name, values) = part.split_once('=')?;
            Some((name.to_string(), values.split(',').collect()))
        })
        .collect()
}

/// Counts the catalogs behind `conn` in one snapshot (the caller's
/// transaction's, when it is in one), for transaction `xid` (a `xid8`;
/// `None` when no transaction of the caller's is expected to have written)
/// against the snapshot `before`.
pub async fn count(
    conn: &mut PgConnection,
    xid: Option<&str>,
    before: &str,
) -> Result<Option<Counted>, sqlx::Error> {
    let Some(horizon) = Snapshot::parse(before).map(|snapshot| snapshot.xmin) else {
        return Ok(None);
    };
    let row = sqlx::query(stamp::COUNTS)
        .bind(xid.unwrap_or("0"))
        .bind(horizon.to_string())
        .fetch_one(conn)
        .await?;
    let counts: Option<String> = row.try_get("counts")?;
    Ok(counts.as_deref().and_then(Counted::parse))
}

impl Counted {
    fn parse(text: &str) -> Option<Counted> {
        let mut counted = Counted::default();
        for (name, values) in fields(text)? {
            let [rows, written, newer] = values.as_slice() else {
                return None;
            };
            counted.rows.0.insert(name.clone(), rows.parse().ok()?);
            counted.written.insert(name, written.parse().ok()?);
            for xid in newer.split_whitespace() {
                counted.newer.insert(xid.parse().ok()?);
            }
        }
        Some(counted)
    }
}

/// Whether, between the reading `before` (its snapshot and its counts) and
/// `after` (counted for the transaction that wrote `writes`, or for none
/// when `writes` is `None`), no other transaction changed a catalog the
/// stamp digests. See the module's doc.
pub fn only_writer(
    before_snapshot: &str,
    before: &CatalogRows,
    after: &Counted,
    writes: Option<&CatalogWrites>,
) -> bool {
    let Some(snapshot) = Snapshot::parse(before_snapshot) else {
        return false;
    };
    if after
        .newer
        .iter()
        .any(|&xid| !snapshot.finished(snapshot.widen(xid)))
    {
        return false;
    }
    let none = CatalogWrites::default();
    let writes = writes.unwrap_or(&none);
    before.0.len() == after.rows.0.len()
        && after.rows.0.iter().all(|(name, &rows)| {
            let Some(&rows_before) = before.0.get(name) else {
                return false;
            };
            let wrote = writes.0.get(name).copied().unwrap_or_default();
            let written = after.written.get(name).copied().unwrap_or(0);
            written <= wrote.inserted + wrote.updated
                && rows == rows_before + wrote.inserted - wrote.deleted
        })
}

/// A snapshot as `pg_current_snapshot()` prints it (`xmin:xmax:xip,...`,
/// 64-bit transaction ids).
pub(super) struct Snapshot {
    pub(super) xmin: u64,
    pub(super) xmax: u64,
    /// The transactions in progress between `xmin` and `xmax`.
    pub(super) running: BTreeSet<u64>,
}

impl Snapshot {
    pub(super) fn parse(text: &str) -> Option<Snapshot> {
        let mut fields = text.splitn(3, ':');
        let xmin = fields.next()?.parse().ok()?;
        let xmax = fields.next()?.parse().ok()?;
        let running = match fields.next()? {
            "" => BTreeSet::new(),
            list => list
                .split(',')
                .map(|xid| xid.parse().ok())
                .collect::<Option<_>>()?,
        };
        Some(Snapshot {
            xmin,
            xmax,
            running,
        })
    }

    /// Whether transaction `xid` had finished when the snapshot was taken.
    fn finished(&self, xid: u64) -> bool {
        xid < self.xmin || (xid < self.xmax && !self.running.contains(&xid))
    }

    /// The 64-bit id of a 32-bit one from `xmin` on: the first id at or
    /// after `xmin` with those low 32 bits.
    fn widen(&self, xid: u32) -> u64 {
        // Truncating is the point: the low half of `xmin`.
        let low = self.xmin as u32;
        self.xmin + u64::from(xid.wrapping_sub(low))
    }
}

#[cfg(test)]
mod tests {
    use super::{CatalogRows, CatalogWrites, Counted, Snapshot, only_writer};

    fn rows(text: &str) -> CatalogRows {
        Counted::parse(text).map(|c| c.rows).unwrap()
    }

    #[test]
    fn the_writes_of_one_transaction_are_its_counters_at_its_end_less_those_at_its_start() {
        let writes = CatalogWrites::between(
            Some("class=5,1,0;attribute=20,0,0"),
            Some("class=9,2,1;attribute=27,0,0"),
        )
        .unwrap();
        assert_eq!(
            rows("class=10,0,;attribute=100,0,").after(&writes),
            Some(rows("class=13,0,;attribute=107,0,"))
        );
        // Counters switched off, or a catalog missing on one side.
        assert_eq!(CatalogWrites::between(None, Some("class=1,0,0")), None);
        assert_eq!(
            CatalogWrites::between(Some("class=1,0,0"), Some("class=1,0,0;proc=0,0,0")),
            None
        );
        assert_eq!(
            CatalogWrites::between(Some("class=x,0,0"), Some("class=1,0,0")),
            None
        );
    }

    #[test]
    fn a_32_bit_id_widens_to_the_first_id_from_the_snapshots_xmin_on() {
        let snapshot = Snapshot::parse("4294967290:4294967300:4294967295").unwrap();
        assert_eq!(snapshot.widen(4294967291), 4294967291);
        // Past the wrap of the low half.
        assert_eq!(snapshot.widen(3), 4294967299);
        assert!(snapshot.finished(4294967291));
        assert!(!snapshot.finished(4294967295));
        assert!(!snapshot.finished(4294967300));
        assert!(snapshot.finished(100));
    }

    #[test]
    fn only_the_transaction_whose_counters_explain_every_count_wrote_the_catalogs() {
        let before = rows("class=10,0,;attribute=100,0,");
        let wrote = CatalogWrites::between(
            Some("class=0,0,0;attribute=0,0,0"),
            Some("class=2,1,0;attribute=7,0,0"),
        )
        .unwrap();
        let after = |text: &str| Counted::parse(text).unwrap();
        // The revision alone: two tables, one changed; others committed
        // outside the catalogs.
        assert!(only_writer(
            "700:700:",
            &before,
            &after("class=12,3,;attribute=107,7,"),
            Some(&wrote)
        ));
        // Another transaction dropped a table: a row short.
        assert!(!only_writer(
            "700:700:",
            &before,
            &after("class=11,3,;attribute=107,7,"),
            Some(&wrote)
        ));
        // Another transaction, not finished in the snapshot before, wrote
        // a row: whether 699 (running then) or 705 (after).
        for newer in ["699", "705"] {
            assert!(!only_writer(
                "690:700:699",
                &before,
                &after(&format!("class=12,3,{newer};attribute=107,7,")),
                Some(&wrote)
            ));
        }
        // A row written by a transaction finished before the snapshot is old.
        assert!(only_writer(
            "690:700:699",
            &before,
            &after("class=12,3,695;attribute=107,7,"),
            Some(&wrote)
        ));
        // More rows written than the counters say: the counters prove nothing.
        assert!(!only_writer(
            "700:700:",
            &before,
            &after("class=12,4,;attribute=107,7,"),
            Some(&wrote)
        ));
        // No writer expected (a gate's check): any change in count is another's.
        assert!(only_writer(
            "700:700:",
            &before,
            &after("class=10,0,;attribute=100,0,"),
            None
        ));
        assert!(!only_writer(
            "700:700:",
            &before,
            &after("class=10,0,;attribute=99,0,"),
            None
        ));
        // Counts of other catalogs, or a snapshot that does not parse.
        assert!(!only_writer(
            "700:700:",
            &before,
            &after("class=10,0,"),
            None
        ));
        assert!(!only_writer(
            "x",
            &before,
            &after("class=10,0,;attribute=100,0,"),
            None
        ));
    }
}
