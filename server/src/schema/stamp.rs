//! The catalog stamp: a digest of the row versions (`ctid`, `xmin`) of every
//! `pg_catalog` row the introspection reads for user objects, and of the rows
//! of the objects whose names its definitions print (languages, operators,
//! ...). Any DDL the model can see inserts, deletes or updates one of those
//! rows, so an unchanged stamp proves the schema is unchanged without reading
//! it. A changed stamp proves nothing (a `VACUUM FULL` of a catalog or a
//! temporary table changes it too): the caller then reads and compares the
//! whole schema.
//!
//! A lighter pass over the same catalogs finds the rows one transaction
//! wrote, for [`introspect_after`](super::introspect_after): it reads only
//! the catalogs whose rows name a relation or a global object (the
//! columns' only for a transaction that may have changed a column in
//! place), and hashes nothing.
//!
//! The same list of catalogs gives the row counts and the statistics
//! counters that tell another transaction's DDL from its other writes
//! ([`counts`](super::counts)).

use super::incremental::Changes;
use sqlx::postgres::types::Oid;
use sqlx::{PgConnection, Row};

/// Every catalog the stamp digests, one `$part!` per catalog: whether the
/// rows can name a relation or a global object a transaction changed
/// (`named`), can too but need not be scanned for a transaction that changed
/// no column in place (`columns`: see
/// [`SqlTraits::changes_columns_in_place`](super::SqlTraits::changes_columns_in_place))
/// or are only digested (`digest`), the part's name, the catalog, its oid
/// (fixed in every PostgreSQL version), the condition that leaves built-in
/// rows out, and, for transaction `x.xid`, the relations its rows name
/// (`touched`) and whether it wrote a schema, extension, enum, domain, function or
/// event trigger (`global`). The parts are joined by `$sep`, `UNION ALL`
/// unless given.
///
/// A sequence's definition is its `pg_sequence` row, which `ALTER SEQUENCE`
/// rewrites (PostgreSQL 15 rewrites its `pg_class` row too; the scan does
/// not rely on that), even for `OWNED BY` alone, whose `pg_depend` row the
/// stamp digests. Whether the column that owns a sequence draws from it
/// changes with that column's default: `summary!` adds the sequences a
/// column of a touched table owns.
///
/// Some catalogs are digested only because definitions print the names of
/// their objects, which a rename changes without writing any other row: a
/// function's language, a column's collation, an operator in an
/// expression, an index's operator class, a text search configuration
/// (`'english'::regconfig`), a constraint's index tablespace.
///
/// Rows of system columns (attnum < 1, created and dropped with their
/// table) cannot change by user DDL, nor can those of built-in objects (oid
/// below `FirstNormalObjectId`, 16384) but by a superuser's on a built-in,
/// which the stamp does not follow; leaving them out keeps the passes
/// cheap. The catalogs of namespaces and extensions, and the few-row ones
/// whose objects in use are mostly built in (languages, `plpgsql`
/// included; text search configurations; tablespaces), are read whole.
macro_rules! catalogs {
    ($part:ident) => {
        catalogs!($part, " UNION ALL ")
    };
    ($part:ident, $sep:literal) => {
        concat!(
            $part!(named, "namespace", "pg_namespace", "2615", "true", "NULL::pg_catalog.oid[]", "bool_or(c.xmin = x.xid)"),
            $sep,
            $part!(named, "extension", "pg_extension", "3079", "true", "NULL", "bool_or(c.xmin = x.xid)"),
            $sep,
            $part!(named, "class", "pg_class", "1259", "c.oid >= 16384", "array_agg(c.oid) FILTER (WHERE c.xmin = x.xid)", "false"),
            $sep,
            $part!(columns, "attribute", "pg_attribute", "1249", "c.attrelid >= 16384 AND c.attnum > 0", "array_agg(c.attrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            $sep,
            $part!(named, "attrdef", "pg_attrdef", "2604", "c.oid >= 16384", "array_agg(c.adrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            $sep,
            $part!(named, "constraint", "pg_constraint", "2606", "c.oid >= 16384", "array_agg(c.conrelid) FILTER (WHERE c.xmin = x.xid)", "bool_or(c.xmin = x.xid AND c.contypid <> 0)"),
            $sep,
            $part!(named, "index", "pg_index", "2610", "c.indexrelid >= 16384", "array_agg(c.indrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            $sep,
            $part!(named, "type", "pg_type", "1247", "c.oid >= 16384", "NULL", "bool_or(c.xmin = x.xid AND c.typtype IN ('e', 'd'))"),
            $sep,
            $part!(named, "enum", "pg_enum", "3501", "c.oid >= 16384", "NULL", "bool_or(c.xmin = x.xid)"),
            $sep,
            $part!(named, "proc", "pg_proc", "1255", "c.oid >= 16384", "NULL", "bool_or(c.xmin = x.xid)"),
            $sep,
            $part!(named, "sequence", "pg_sequence", "2224", "c.seqrelid >= 16384", "array_agg(c.seqrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            $sep,
            $part!(named, "trigger", "pg_trigger", "2620", "c.oid >= 16384", "array_agg(c.tgrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            $sep,
            $part!(named, "inherits", "pg_inherits", "2611", "c.inhrelid >= 16384",
                "array_agg(c.inhrelid) FILTER (WHERE c.xmin = x.xid) || array_agg(c.inhparent) FILTER (WHERE c.xmin = x.xid)", "false"),
            $sep,
            $part!(named, "rewrite", "pg_rewrite", "2618", "c.oid >= 16384", "array_agg(c.ev_class) FILTER (WHERE c.xmin = x.xid)", "false"),
            $sep,
            $part!(named, "statistic_ext", "pg_statistic_ext", "3381", "c.oid >= 16384", "array_agg(c.stxrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            $sep,
            $part!(named, "event_trigger", "pg_event_trigger", "3466", "true", "NULL", "bool_or(c.xmin = x.xid)"),
            $sep,
            $part!(digest, "depend", "pg_depend", "2608", "c.objid >= 16384", "NULL", "false"),
            $sep,
            $part!(digest, "collation", "pg_collation", "3456", "c.oid >= 16384", "NULL", "false"),
            $sep,
            $part!(digest, "language", "pg_language", "2612", "true", "NULL", "false"),
            $sep,
            $part!(digest, "operator", "pg_operator", "2617", "c.oid >= 16384", "NULL", "false"),
            $sep,
            $part!(digest, "opclass", "pg_opclass", "2616", "c.oid >= 16384", "NULL", "false"),
            $sep,
            $part!(digest, "ts_config", "pg_ts_config", "3602", "true", "NULL", "false"),
            $sep,
            $part!(digest, "tablespace", "pg_tablespace", "1213", "true", "NULL", "false"),
        )
    };
}

/// A catalog's part of the stamp: the number of rows and the sum of a
/// 64-bit hash of each row's version (`hashtidextended(ctid, xmin)`): a sum
/// needs no sort, and a change that leaves both equal by accident has a
/// chance of about 2^-64.
macro_rules! stamp_part {
    ($kind:ident, $name:literal, $catalog:literal, $oid:literal, $filter:literal, $touched:literal, $global:literal) => {
        concat!(
            "SELECT '", $name, "' || count(*) || ':' || coalesce(sum(hashtidextended(c.ctid, c.xmin::text::bigint)), 0), NULL::pg_catalog.oid[], false FROM pg_catalog.",
            $catalog, " c WHERE ", $filter
        )
    };
}

/// A catalog's part of what transaction `x.xid` changed, from its rows
/// alone (the join is a filter: `x` has one row); a catalog whose rows name
/// no relation is not read.
macro_rules! changes_part {
    (digest, $name:literal, $catalog:literal, $oid:literal, $filter:literal, $touched:literal, $global:literal) => {
        "SELECT NULL, NULL::pg_catalog.oid[], false WHERE false"
    };
    (columns, $($part:literal),*) => {
        changes_part!(named, $($part),*)
    };
    (named, $name:literal, $catalog:literal, $oid:literal, $filter:literal, $touched:literal, $global:literal) => {
        concat!(
            "SELECT NULL, ",
            $touched,
            ", ",
            $global,
            " FROM pg_catalog.",
            $catalog,
            " c JOIN x ON c.xmin = x.xid WHERE ",
            $filter
        )
    };
}

/// [`changes_part`], leaving out the catalog of columns.
macro_rules! changes_part_but_columns {
    (columns, $($part:literal),*) => {
        changes_part!(digest, $($part),*)
    };
    ($kind:ident, $($part:literal),*) => {
        changes_part!($kind, $($part),*)
    };
}

/// The parts, then one row: the stamp (empty without digests), the
/// snapshot, the relations touched with the sequences owned by a column of
/// one of them (also `relations (oids)`, for `$more`), whether a global
/// object changed, and `$more` columns. A
/// dependent's kind is looked up by oid in a subquery: joined, the
/// statement's generic plan hashes all of `pg_class` at every revision.
macro_rules! summary {
    ($part:ident, $more:literal) => {
        concat!(
            "parts (part, touched, global) AS (",
            catalogs!($part),
            "), relations (oids) AS (SELECT coalesce(array_agg(DISTINCT relation), '{}') FROM ( \
                  SELECT relation FROM parts, unnest(touched) AS relation \
                  UNION ALL SELECT o.objid FROM parts, unnest(touched) AS r (relation) \
                  JOIN pg_catalog.pg_depend o ON o.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                    AND o.refobjid = r.relation AND o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                    AND o.deptype = 'a' \
                  WHERE (SELECT q.relkind FROM pg_catalog.pg_class q WHERE q.oid = o.objid) = 'S') AS t) \
             SELECT coalesce(md5(string_agg(part, '|' ORDER BY part)), '') AS stamp, \
               pg_catalog.pg_current_snapshot()::text AS snapshot, \
               (SELECT oids FROM relations) AS touched, \
               coalesce(bool_or(global), false) AS global",
            $more,
            " FROM parts"
        )
    };
}

/// The stamp alone. Without a parameter its plan is cached with the
/// prepared statement; a parameter would have it planned again at every
/// run, and planning some twenty catalog scans costs about as much as
/// running them.
const STAMP: &str = concat!(
    "WITH ",
    summary!(
        stamp_part,
        ", false AS row_triggers, false AS event_triggers, false AS implicit_calls, false AS tables_only"
    )
);
/// What transaction `$1` (a `xid8`) changed, without the stamp, with
/// `$part!` for each catalog: the catalogs that name no relation are not
/// read and no row is hashed, which halves the pass. With whether a user
/// trigger, an enabled event trigger or a function that is not built in
/// behind an operator, a cast, an operator class or a domain's check
/// exists: user code the transaction may have run (see
/// [`super::Triggers`]), and whether the relations touched are all tables
/// and indexes without user triggers or extended statistics (`tables_only`:
/// see [`introspect::read_relations`](super::introspect::read_relations)).
/// Only operators, casts and operator classes that
/// are not built in are looked at, found by oid in the index: a built-in
/// one names a built-in function (unless a superuser rewrote the catalog,
/// which nothing here follows), and `pg_operator` and `pg_amproc` hold
/// hundreds of built-in rows that a scan would read at every revision.
macro_rules! changes {
    ($part:ident) => {
        concat!(
            "WITH x (xid) AS (SELECT $1::text::xid8::xid), ",
            summary!(
                $part,
                ", EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE NOT t.tgisinternal) AS row_triggers, \
                   EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger e WHERE e.evtenabled <> 'D') AS event_triggers, \
                   EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oid >= 16384 AND o.oprcode::oid >= 16384) \
                   OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast c WHERE c.oid >= 16384 AND c.castfunc >= 16384) \
                   OR EXISTS (SELECT 1 FROM pg_catalog.pg_amproc p WHERE p.oid >= 16384 AND p.amproc::oid >= 16384) \
                   OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_depend d \
                                ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objid = c.oid \
                              WHERE c.contypid <> 0 AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass \
                                AND d.refobjid >= 16384) AS implicit_calls, \
                   NOT EXISTS (SELECT 1 FROM relations r JOIN pg_catalog.pg_class q ON q.oid = ANY (r.oids) \
                               WHERE q.relkind IN ('S', 'v', 'm')) \
                   AND NOT EXISTS (SELECT 1 FROM relations r JOIN pg_catalog.pg_trigger t ON t.tgrelid = ANY (r.oids) \
                                   WHERE NOT t.tgisinternal) \
                   AND NOT EXISTS (SELECT 1 FROM relations r \
                                   JOIN pg_catalog.pg_statistic_ext x ON x.stxrelid = ANY (r.oids)) AS tables_only"
            )
        )
    };
}
/// What a transaction changed, every catalog that names a relation read.
const CHANGES: &str = changes!(changes_part);
/// The same but for the catalog of columns, which holds most of the rows
/// (every column of every table, view and index).
const CHANGES_BUT_COLUMNS: &str = changes!(changes_part_but_columns);

/// A catalog's row count, for [`COUNTS`]: all its rows (the statistics
/// counters that [`CATALOG_WRITES`] reads count every row a transaction
/// wrote), how many of the rows the stamp digests transaction `x.xid`
/// wrote, and the distinct other transactions that wrote any of those rows
/// from `x.horizon` on (an age: older rows cannot be new; `age` runs only
/// on the rows the condition keeps, which leaves the built-in ones out).
/// `x` is read in subqueries, each run once, rather than joined to every
/// row (15% off the pass).
macro_rules! count_part {
    ($kind:ident, $name:literal, $catalog:literal, $oid:literal, $filter:literal, $touched:literal, $global:literal) => {
        concat!(
            "SELECT 'pg_catalog.",
            $catalog,
            "'::pg_catalog.regclass::pg_catalog.oid AS part, count(*) AS rows, \
             count(*) FILTER (WHERE ",
            $filter,
            " AND c.xmin = (SELECT x.xid FROM x)) AS written, \
             array_agg(DISTINCT c.xmin::text) FILTER (WHERE ",
            $filter,
            " AND c.xmin <> (SELECT x.xid FROM x) \
               AND pg_catalog.age(c.xmin) <= (SELECT x.horizon FROM x)) AS newer \
             FROM pg_catalog.",
            $catalog,
            " c"
        )
    };
}

/// Every catalog's row count (see [`count_part`]) for transaction `$1` (a
/// `xid8`; `0` for none) and transactions from `$2` on (a `xid8`), as one
/// text `oid=rows,written,xid xid...;...` (the catalog's oid found by its
/// name: an oid in [`CATALOG_WRITES`] that is not the catalog's matches
/// nothing, and proves nothing).
pub(super) const COUNTS: &str = concat!(
    "WITH x (xid, horizon) AS (SELECT $1::text::pg_catalog.xid8::pg_catalog.xid, \
       pg_catalog.age($2::text::pg_catalog.xid8::pg_catalog.xid)) \
     SELECT string_agg(part || '=' || rows || ',' || written || ',' || coalesce(array_to_string(newer, ' '), ''), ';') AS counts \
     FROM (",
    catalogs!(count_part),
    ") AS p"
);

/// A catalog's oid, for the list [`CATALOG_WRITES`] reads.
macro_rules! catalog_oid {
    ($kind:ident, $name:literal, $catalog:literal, $oid:literal, $($rest:literal),*) => {
        $oid
    };
}

/// An expression: the rows the backend inserted, updated and deleted in
/// every catalog the stamp digests, as text (`oid=inserted,updated,deleted;...`),
/// or NULL when `track_counts` is off (the counters then stay at zero).
/// They include what the backend's earlier transactions wrote until its
/// statistics are flushed, which happens only between transactions: the
/// writes of one transaction are the difference between the values read at
/// its start and at its end ([`CatalogWrites::between`](super::CatalogWrites::between)).
/// The catalogs go by their oids, fixed in every PostgreSQL version, so
/// that the expression stays short: it opens each revision's message,
/// which `pg_stat_activity` shows only the first kilobyte of.
pub const CATALOG_WRITES: &str = concat!(
    "(SELECT CASE WHEN pg_catalog.current_setting('track_counts')::bool THEN \
       pg_catalog.string_agg(r || '=' || pg_catalog.pg_stat_get_xact_tuples_inserted(r) || ',' \
         || pg_catalog.pg_stat_get_xact_tuples_updated(r) || ',' \
         || pg_catalog.pg_stat_get_xact_tuples_deleted(r), ';') END \
     FROM pg_catalog.unnest('{",
    catalogs!(catalog_oid, ","),
    "}'::pg_catalog.oid[]) AS r)"
);

/// One pass over the catalogs.
pub(super) enum Pass<'a> {
    /// The catalog stamp.
    Stamp,
    /// What transaction `xid` changed, with an empty stamp; the catalog of
    /// columns is scanned only when `columns` is true.
    ChangesOf { xid: &'a str, columns: bool },
}

/// The catalog stamp of the database behind `conn`, read in the caller's
/// transaction when there is one (so that it describes the same snapshot as
/// an introspection that follows in it).
pub async fn catalog_stamp(conn: &mut PgConnection) -> Result<String, sqlx::Error> {
    Ok(read(conn, Pass::Stamp).await?.stamp)
}

/// Reads the catalogs in one `pass`.
pub(super) async fn read(conn: &mut PgConnection, pass: Pass<'_>) -> Result<Changes, sqlx::Error> {
    let row = match pass {
        Pass::Stamp => sqlx::query(STAMP).fetch_one(conn).await?,
        Pass::ChangesOf { xid, columns } => {
            let query = if columns {
                CHANGES
            } else {
                CHANGES_BUT_COLUMNS
            };
            sqlx::query(query).bind(xid).fetch_one(conn).await?
        }
    };
    Ok(Changes {
        stamp: row.try_get("stamp")?,
        snapshot: row.try_get("snapshot")?,
        relations: row.try_get::<Vec<Oid>, _>("touched")?,
        globals: row.try_get("global")?,
        tables_only: row.try_get("tables_only")?,
        triggers: super::Triggers {
            row: row.try_get("row_triggers")?,
            event: row.try_get("event_triggers")?,
            implicit: row.try_get("implicit_calls")?,
        },
    })
}
