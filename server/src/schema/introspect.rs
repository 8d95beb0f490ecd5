//! Reads a live PostgreSQL database's schema from `pg_catalog` into the
//! canonical model: one query per object kind, sent as one statement per
//! reading of the relations and one of the global objects (each row set
//! aggregated to JSON), in one read-only, repeatable-read transaction,
//! with `search_path` emptied so every
//! expression and definition names user objects schema-qualified whatever
//! the connection's settings. Objects built into PostgreSQL have oids below
//! `FirstNormalObjectId` (16384); a condition on that lets the scans of
//! `pg_type` and `pg_proc`, large with built-ins, use the oid index.

use super::CatalogRows;
use super::model::{Attribute, Domain, EventTrigger, Range, Schema};
use sqlx::postgres::types::Oid;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};
use std::sync::LazyLock;

/// The namespaces that are the user's schema, as a condition on `$alias.nspname`.
macro_rules! user_namespace {
    ($alias:literal) => {
        concat!(
            $alias,
            ".nspname NOT IN ('pg_catalog', 'information_schema', 'schemagate') AND ",
            $alias,
            ".nspname NOT LIKE 'pg\\_toast%' AND ",
            $alias,
            ".nspname NOT LIKE 'pg\\_temp%'"
        )
    };
}

/// The qualified name of collation `$own` where it is not `$usual` (the
/// type's), else null.
macro_rules! collation_unless {
    ($own:literal, $usual:literal) => {
        concat!(
            "CASE WHEN ",
            $own,
            " <> ",
            $usual,
            " THEN (SELECT format('%I.%I', cn.nspname, co.collname) FROM pg_catalog.pg_collation co \
             JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = ",
            $own,
            ") END"
        )
    };
}

/// The qualified name of function `$oid`; null for none (0).
macro_rules! function_name {
    ($oid:literal) => {
        concat!(
            "(SELECT format('%I.%I', pn.nspname, pp.proname) FROM pg_catalog.pg_proc pp \
             JOIN pg_catalog.pg_namespace pn ON pn.oid = pp.pronamespace WHERE pp.oid = ",
            $oid,
            ")"
        )
    };
}

/// The object `$oid` of catalog `$catalog` was not created by an extension.
macro_rules! not_from_extension {
    ($catalog:literal, $oid:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = '",
            $catalog,
            "'::pg_catalog.regclass AND e.objid = ",
            $oid,
            " AND e.deptype = 'e')"
        )
    };
}

const SCHEMAS: &str = concat!(
    "SELECT quote_ident(n.nspname) AS name FROM pg_catalog.pg_namespace n WHERE ",
    user_namespace!("n"),
    " AND ",
    not_from_extension!("pg_catalog.pg_namespace", "n.oid")
);

const EXTENSIONS: &str = "SELECT quote_ident(extname) AS name FROM pg_catalog.pg_extension";

const ENUMS: &str = concat!(
    "SELECT format('%I.%I', n.nspname, t.typname) AS name, \
            COALESCE(array_agg(e.enumlabel::text ORDER BY e.enumsortorder) \
                     FILTER (WHERE e.enumlabel IS NOT NULL), '{}') AS labels \
     FROM pg_catalog.pg_type t \
     JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
     LEFT JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid \
     WHERE t.oid >= 16384 AND t.typtype = 'e' AND ",
    user_namespace!("n"),
    " AND ",
    not_from_extension!("pg_catalog.pg_type", "t.oid"),
    " GROUP BY n.nspname, t.typname"
);

/// Domains; a NOT NULL is read from the type (PostgreSQL 17 also makes a
/// constraint of it), checks from their constraints.
const DOMAINS: &str = concat!(
    "SELECT format('%I.%I', n.nspname, t.typname) AS name, \
            format_type(t.typbasetype, t.typtypmod) AS data_type, ",
    collation_unless!("t.typcollation", "b.typcollation"),
    " AS collation, \
            pg_get_expr(t.typdefaultbin, 0) AS default_expr, t.typnotnull AS not_null, \
            (SELECT json_object_agg(quote_ident(k.conname), pg_get_constraintdef(k.oid)) \
             FROM pg_catalog.pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c') AS checks \
     FROM pg_catalog.pg_type t \
     JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
     JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype \
     WHERE t.oid >= 16384 AND t.typtype = 'd' AND ",
    user_namespace!("n"),
    " AND ",
    not_from_extension!("pg_catalog.pg_type", "t.oid")
);

/// Composite types, each with its attributes in order (a table's row type
/// is its table's).
const COMPOSITES: &str = concat!(
    "SELECT format('%I.%I', n.nspname, t.typname) AS name, \
            (SELECT json_agg(json_build_object('name', quote_ident(a.attname), \
                      'data_type', format_type(a.atttypid, a.atttypmod), \
                      'collation', ",
    collation_unless!("a.attcollation", "at.typcollation"),
    ") ORDER BY a.attnum) \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type at ON at.oid = a.atttypid \
             WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) AS attributes \
     FROM pg_catalog.pg_type t \
     JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
     JOIN pg_catalog.pg_class c ON c.oid = t.typrelid AND c.relkind = 'c' \
     WHERE t.oid >= 16384 AND t.typtype = 'c' AND ",
    user_namespace!("n"),
    " AND ",
    not_from_extension!("pg_catalog.pg_type", "t.oid")
);

/// Range types, each option where it is not the default.
const RANGES: &str = concat!(
    "SELECT format('%I.%I', n.nspname, t.typname) AS name, \
            format_type(r.rngsubtype, NULL) AS subtype, \
            (SELECT format('%I.%I', on_.nspname, o.opcname) FROM pg_catalog.pg_opclass o \
             JOIN pg_catalog.pg_namespace on_ ON on_.oid = o.opcnamespace \
             WHERE o.oid = r.rngsubopc AND NOT o.opcdefault) AS subtype_opclass, \
            ",
    collation_unless!(
        "r.rngcollation",
        "(SELECT s.typcollation FROM pg_catalog.pg_type s WHERE s.oid = r.rngsubtype)"
    ),
    " AS collation, ",
    function_name!("r.rngcanonical"),
    " AS canonical, ",
    function_name!("r.rngsubdiff"),
    " AS subtype_diff \
     FROM pg_catalog.pg_range r \
     JOIN pg_catalog.pg_type t ON t.oid = r.rngtypid \
     JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
     WHERE t.oid >= 16384 AND ",
    user_namespace!("n"),
    " AND ",
    not_from_extension!("pg_catalog.pg_type", "t.oid")
);

/// Functions and procedures, but for those a type made for itself (a range
/// type's constructors), which belong to the type.
const FUNCTIONS: &str = concat!(
    "SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS name, \
            pg_get_functiondef(p.oid) AS definition \
     FROM pg_catalog.pg_proc p \
     JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
     WHERE p.oid >= 16384 AND p.prokind IN ('f', 'p', 'w') AND ",
    user_namespace!("n"),
    " AND ",
    not_from_extension!("pg_catalog.pg_proc", "p.oid"),
    " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i \
       WHERE i.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND i.objid = p.oid \
         AND i.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND i.deptype = 'i')"
);

/// Sequences, with the column that owns each unless that column's default
/// draws from it (see [`Sequence::owned_by`](super::model::Sequence::owned_by)).
const SEQUENCES: &str = concat!(
    "SELECT format('%I.%I', n.nspname, c.relname) AS name, format_type(s.seqtypid, NULL) AS data_type, \
            s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle, \
            (SELECT format('%s.%I', o.refobjid::pg_catalog.regclass, oa.attname) \
             FROM pg_catalog.pg_depend o \
             JOIN pg_catalog.pg_attribute oa ON oa.attrelid = o.refobjid AND oa.attnum = o.refobjsubid \
             WHERE o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objid = c.oid AND o.objsubid = 0 \
               AND o.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.deptype = 'a' \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef ad JOIN pg_catalog.pg_depend u \
                                 ON u.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND u.objid = ad.oid \
                               WHERE ad.adrelid = o.refobjid AND ad.adnum = o.refobjsubid \
                                 AND u.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND u.refobjid = c.oid) \
             LIMIT 1) AS owned_by \
     FROM pg_catalog.pg_sequence s \
     JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE ",
    user_namespace!("n"),
    " AND ",
    not_from_extension!("pg_catalog.pg_class", "c.oid"),
    // Identity sequences belong to their column.
    " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i \
       WHERE i.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND i.objid = c.oid AND i.deptype = 'i')"
);

const TABLES: &str = concat!(
    "SELECT format('%I.%I', n.nspname, c.relname) AS name, \
            CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key, \
            CASE WHEN c.relispartition THEN \
              (SELECT format('%s %s', h.inhparent::pg_catalog.regclass, pg_get_expr(c.relpartbound, c.oid)) \
               FROM pg_catalog.pg_inherits h WHERE h.inhrelid = c.oid LIMIT 1) END AS partition_of, \
            CASE WHEN NOT c.relispartition THEN \
              (SELECT array_agg(h.inhparent::pg_catalog.regclass::text) \
               FROM pg_catalog.pg_inherits h WHERE h.inhrelid = c.oid) END AS inherits \
     FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND ",
    user_namespace!("n"),
    " AND ",
    not_from_extension!("pg_catalog.pg_class", "c.oid")
);

/// Columns, with `$compression` the expression of a column's compression
/// method (`pg_attribute.attcompression` is PostgreSQL 14's). A column's
/// storage is read only when it is not its type's, its statistics target
/// when set (-1 unset before PostgreSQL 17, null from it).
macro_rules! columns {
    ($compression:literal) => {
        concat!(
    "SELECT format('%I.%I', n.nspname, c.relname) AS tbl, quote_ident(a.attname) AS name, \
            a.attnum AS position, format_type(a.atttypid, a.atttypmod) AS data_type, \
            a.attnotnull AS not_null, \
            CASE WHEN a.attgenerated::text = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS default_expr, \
            CASE WHEN a.attgenerated::text <> '' THEN pg_get_expr(d.adbin, d.adrelid) END AS generated, \
            CASE a.attidentity WHEN 'a' THEN 'ALWAYS' WHEN 'd' THEN 'BY DEFAULT' END AS identity, \
            ",
    collation_unless!("a.attcollation", "t.typcollation"),
    " AS collation, \
            format_type(s.seqtypid, NULL) AS seq_type, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle, \
            CASE WHEN a.attstorage <> t.typstorage THEN \
              CASE a.attstorage WHEN 'p' THEN 'PLAIN' WHEN 'm' THEN 'MAIN' WHEN 'e' THEN 'EXTERNAL' WHEN 'x' THEN 'EXTENDED' END \
            END AS storage, ",
    $compression,
    " AS compression, CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int END AS stattarget \
     FROM pg_catalog.pg_attribute a \
     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
     LEFT JOIN LATERAL (SELECT q.* FROM pg_catalog.pg_depend dep \
                        JOIN pg_catalog.pg_sequence q ON q.seqrelid = dep.objid \
                        WHERE a.attidentity IN ('a', 'd') \
                          AND dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                          AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                          AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum \
                          AND dep.deptype = 'i' LIMIT 1) s ON true \
     WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND ",
    user_namespace!("n")
        )
    };
}

const COLUMNS: &str =
    columns!("CASE a.attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' END");
/// [`COLUMNS`] for PostgreSQL 13, which compresses every column alike.
const COLUMNS_13: &str = columns!("NULL::text");

const CONSTRAINTS: &str = concat!(
    "SELECT format('%I.%I', n.nspname, c.relname) AS tbl, quote_ident(k.conname) AS name, \
            k.contype::text AS kind, pg_get_constraintdef(k.oid) AS definition, \
            CASE WHEN k.contype = 'f' OR k.condeferrable THEN ( \
              WITH RECURSIVE family (oid) AS ( \
                SELECT k.oid UNION ALL \
                SELECT p.oid FROM pg_catalog.pg_constraint p JOIN family ON p.conparentid = family.oid) \
              SELECT array_agg(DISTINCT t.tgenabled::text) FROM pg_catalog.pg_trigger t JOIN family ON t.tgconstraint = family.oid \
              WHERE t.tgenabled <> 'O') END AS trigger_modes \
     FROM pg_catalog.pg_constraint k \
     JOIN pg_catalog.pg_class c ON c.oid = k.conrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE k.contype IN ('p', 'u', 'c', 'f', 'x') AND c.relkind IN ('r', 'p') \
       AND k.conparentid = 0 AND k.conislocal AND ",
    // Constraints cloned onto partitions (conparentid) or inherited from a
    // parent (not conislocal) follow from the parent's definition. A
    // foreign key is enforced by internal triggers on both its tables (for
    // a partitioned one, by those of the constraints cloned from it onto
    // the partitions too: its `family`), a deferrable unique, primary key or
    // exclusion constraint by one that checks deferred rows; one disabled or
    // firing for replicas only does not fire in an ordinary session, one
    // firing always fires for replicas too. Their modes other than as
    // created are read.
    user_namespace!("n")
);

const INDEXES: &str = concat!(
    "SELECT format('%I.%I', n.nspname, ic.relname) AS name, quote_ident(ic.relname) AS bare, \
            format('%I.%I', tn.nspname, c.relname) AS tbl, pg_get_indexdef(i.indexrelid) AS definition, \
            i.indisvalid AS valid \
     FROM pg_catalog.pg_index i \
     JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
     JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
     JOIN pg_catalog.pg_namespace tn ON tn.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p', 'm') AND ",
    user_namespace!("tn"),
    " AND ",
    not_from_extension!("pg_catalog.pg_class", "c.oid"),
    // Indexes backing a primary key, unique or exclusion constraint are
    // compared as that constraint; partition indexes follow their parent.
    " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k \
                      WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')) \
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid)"
);

/// Views, with a view's options as they act whatever their spelling (`on`
/// and `yes` are `true`, and a false one is as good as none). A
/// materialized view's options are storage parameters, not read.
const VIEWS: &str = concat!(
    "SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind = 'm' AS materialized, \
            pg_get_viewdef(c.oid) AS definition, \
            (SELECT array_agg(o.name || '=' || o.value ORDER BY o.name) \
             FROM (SELECT option_name AS name, \
                          CASE WHEN option_name IN ('security_barrier', 'security_invoker') THEN option_value::bool::text \
                               ELSE lower(option_value) END AS value \
                   FROM pg_catalog.pg_options_to_table(c.reloptions)) o \
             WHERE c.relkind = 'v' AND o.value <> 'false') AS options \
     FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('v', 'm') AND ",
    user_namespace!("n"),
    " AND ",
    not_from_extension!("pg_catalog.pg_class", "c.oid")
);

/// User triggers, and of those cloned onto partitions only the ones that
/// fire otherwise than their parent (without their definition: the
/// parent's gives it).
const TRIGGERS: &str = concat!(
    "SELECT format('%I.%I', n.nspname, c.relname) AS tbl, quote_ident(t.tgname) AS name, \
            CASE WHEN t.tgparentid = 0 THEN pg_get_triggerdef(t.oid) END AS definition, \
            t.tgenabled::text AS enabled \
     FROM pg_catalog.pg_trigger t \
     JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT t.tgisinternal \
       AND (t.tgparentid = 0 OR t.tgenabled <> \
            (SELECT p.tgenabled FROM pg_catalog.pg_trigger p WHERE p.oid = t.tgparentid)) \
       AND c.relkind IN ('r', 'p', 'v') AND ",
    user_namespace!("n")
);

/// Event triggers; those of an extension are left to it.
const EVENT_TRIGGERS: &str = concat!(
    "SELECT quote_ident(v.evtname) AS name, v.evtevent::text AS event, \
            v.evtfoid::pg_catalog.regproc::text AS function, v.evttags AS tags, v.evtenabled::text AS enabled \
     FROM pg_catalog.pg_event_trigger v WHERE ",
    not_from_extension!("pg_catalog.pg_event_trigger", "v.oid")
);

/// Extended statistics (`CREATE STATISTICS`), with the table they are on.
const STATISTICS: &str = concat!(
    "SELECT format('%I.%I', n.nspname, c.relname) AS tbl, format('%I.%I', sn.nspname, x.stxname) AS name, \
            pg_get_statisticsobjdef(x.oid) AS definition \
     FROM pg_catalog.pg_statistic_ext x \
     JOIN pg_catalog.pg_namespace sn ON sn.oid = x.stxnamespace \
     JOIN pg_catalog.pg_class c ON c.oid = x.stxrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND ",
    user_namespace!("n"),
    " AND ",
    not_from_extension!("pg_catalog.pg_statistic_ext", "x.oid")
);

/// The qualified name of every relation, of any kind.
const NAMES: &str = "SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE true";

/// Reads the schema of the database `conn` is connected to. Runs in its own
/// read-only repeatable-read transaction (or a savepoint when the caller is
/// already in a transaction) and changes nothing. Needs PostgreSQL 13 or
/// newer.
pub async fn introspect(conn: &mut PgConnection) -> Result<Schema, sqlx::Error> {
    Ok(introspect_stamped(conn).await?.schema)
}

/// A schema as read in one snapshot of the target, with what proves later
/// that it is still the live one.
#[derive(Clone, Debug)]
pub struct Reading {
    /// The [catalog stamp](super::catalog_stamp) of the snapshot: a later
    /// equal stamp proves this schema is still the live one. Empty for an
    /// [incremental read](super::introspect_after).
    pub stamp: String,
    /// The snapshot itself (`pg_current_snapshot()`, `xmin:xmax:xip`): a
    /// later equal snapshot proves no transaction committed since, so
    /// nothing can have changed.
    pub snapshot: String,
    pub schema: Schema,
    /// The row count of every catalog the stamp digests in the snapshot,
    /// when counted: with a later count, they prove that no other
    /// transaction changed the schema even when others committed
    /// ([`only_writer`](super::only_writer)).
    pub rows: Option<CatalogRows>,
}

/// [`introspect`], with the catalog stamp and the snapshot it was read in.
pub async fn introspect_stamped(conn: &mut PgConnection) -> Result<Reading, sqlx::Error> {
    read_whole(conn, false).await
}

/// [`introspect_stamped`], with the catalogs' [row counts](Reading::rows).
pub async fn introspect_counted(conn: &mut PgConnection) -> Result<Reading, sqlx::Error> {
    read_whole(conn, true).await
}

async fn read_whole(conn: &mut PgConnection, counted: bool) -> Result<Reading, sqlx::Error> {
    let mut tx = if conn.is_in_transaction() {
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(PREPARE).execute(&mut *tx).await?;
        tx
    } else {
        begin_read(conn).await?
    };
    let changes = super::stamp::read(&mut tx, super::stamp::Pass::Stamp).await?;
    let rows = match counted {
        true => super::count(&mut tx, None, &changes.snapshot)
            .await?
            .map(|counted| counted.rows),
        false => None,
    };
    let mut schema = Schema::default();
    read_globals(&mut tx, &mut schema).await?;
    read_relations(&mut tx, None).await?.merge_into(&mut schema);
    tx.rollback().await?;
    let mut reading = changes.reading(schema);
    reading.rows = rows;
    Ok(reading)
}

/// Empties `search_path` for the rest of the transaction: user objects then
/// print schema-qualified, built-ins not. Queries with parameters (the
/// relations of an incremental read) keep their first plan instead of being
/// planned again at every run, which for these catalog joins costs
/// milliseconds.
macro_rules! prepare {
    () => {
        "SET LOCAL search_path TO pg_catalog; SET LOCAL quote_all_identifiers TO off; \
         SET LOCAL plan_cache_mode TO force_generic_plan"
    };
}
const PREPARE: &str = prepare!();

/// Opens the read-only, repeatable-read transaction a reading is made in,
/// prepared as [`PREPARE`] says, in one round trip.
pub(super) async fn begin_read(
    conn: &mut PgConnection,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, sqlx::Error> {
    conn.begin_with(concat!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; ",
        prepare!()
    ))
    .await
}

/// One query whose single row is a JSON object holding, under each name,
/// the rows of that query (restricted by `filter`, which every query's
/// `WHERE` clause takes): a reading costs one round trip, and one plan
/// cached with the prepared statement, whatever the number of kinds.
fn rows_as_json(parts: &[(&str, &str)], filter: &str) -> String {
    let fields: Vec<String> = parts
        .iter()
        .map(|(name, query)| {
            format!("'{name}', (SELECT coalesce(json_agg(r), '[]'::json) FROM ({query}{filter}) r)")
        })
        .collect();
    format!("SELECT json_build_object({})::text", fields.join(", "))
}

static GLOBALS: LazyLock<String> = LazyLock::new(|| {
    rows_as_json(
        &[
            ("schemas", SCHEMAS),
            ("extensions", EXTENSIONS),
            ("enums", ENUMS),
            ("domains", DOMAINS),
            ("composites", COMPOSITES),
            ("ranges", RANGES),
            ("functions", FUNCTIONS),
            ("event_triggers", EVENT_TRIGGERS),
        ],
        "",
    )
});

/// The relation queries, with `columns` the query of columns; each names
/// the relation an object belongs to `c`.
const fn relations(columns: &'static str) -> [(&'static str, &'static str); 8] {
    [
        ("sequences", SEQUENCES),
        ("tables", TABLES),
        ("columns", columns),
        ("constraints", CONSTRAINTS),
        ("indexes", INDEXES),
        ("views", VIEWS),
        ("triggers", TRIGGERS),
        ("statistics", STATISTICS),
    ]
}

/// The queries of every relation, and of the relations `$1` (an `oid[]`)
/// with the names of all of them, of any kind, and the same for tables
/// alone; for one major version of PostgreSQL or another (see
/// [`COLUMNS_13`]).
struct RelationQueries {
    all: String,
    some: String,
    some_tables: String,
}

impl RelationQueries {
    fn new(columns: &'static str) -> RelationQueries {
        let relations = relations(columns);
        let some = |parts: &[(&str, &str)]| {
            rows_as_json(
                &[&[("names", NAMES)], parts].concat(),
                " AND c.oid = ANY($1)",
            )
        };
        let tables: Vec<(&str, &str)> = relations
            .iter()
            .filter(|(name, _)| TABLE_PARTS.contains(name))
            .copied()
            .collect();
        RelationQueries {
            all: rows_as_json(&relations, ""),
            some: some(&relations),
            some_tables: some(&tables),
        }
    }
}

/// The parts of the relation queries that can have rows for a table
/// without user triggers or extended statistics: the others (sequences,
/// views, triggers, statistics) cannot.
const TABLE_PARTS: [&str; 4] = ["tables", "columns", "constraints", "indexes"];

/// The relations an incremental read reads again.
pub(super) struct Only<'a> {
    pub(super) oids: &'a [Oid],
    /// They are all tables and indexes, without user triggers or extended
    /// statistics.
    pub(super) tables_only: bool,
}

static RELATIONS: LazyLock<RelationQueries> = LazyLock::new(|| RelationQueries::new(COLUMNS));
static RELATIONS_13: LazyLock<RelationQueries> = LazyLock::new(|| RelationQueries::new(COLUMNS_13));

/// The one row of a [`rows_as_json`] query, decoded.
async fn fetch_json<T: serde::de::DeserializeOwned>(
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    conn: &mut PgConnection,
) -> Result<T, sqlx::Error> {
    let text: String = query.fetch_one(conn).await?.try_get(0)?;
    serde_json::from_str(&text).map_err(|err| sqlx::Error::Decode(Box::new(err)))
}

/// Schemas, extensions, enums, domains, composite and range types,
/// functions and event triggers: each replaces what `schema` held of it,
/// so that an incremental read can read them all again.
pub(super) async fn read_globals(
    conn: &mut PgConnection,
    schema: &mut Schema,
) -> Result<(), sqlx::Error> {
    let rows: rows::Globals =
        fetch_json(sqlx::query(AssertSqlSafe(GLOBALS.as_str())), conn).await?;
    schema.schemas = rows.schemas.into_iter().map(|row| row.name).collect();
    schema.extensions = rows.extensions.into_iter().map(|row| row.name).collect();
    schema.enums = rows
        .enums
        .into_iter()
        .map(|row| (row.name, row.labels))
        .collect();
    schema.domains = rows
        .domains
        .into_iter()
        .map(|row| {
            let domain = Domain {
                data_type: row.data_type,
                collation: row.collation,
                default: row.default_expr,
                not_null: row.not_null,
                checks: row.checks.unwrap_or_default(),
            };
            (row.name, domain)
        })
        .collect();
    schema.composites = rows
        .composites
        .into_iter()
        .map(|row| (row.name, row.attributes.unwrap_or_default()))
        .collect();
    schema.ranges = rows
        .ranges
        .into_iter()
        .map(|row| {
            let range = Range {
                subtype: row.subtype,
                subtype_opclass: row.subtype_opclass,
                collation: row.collation,
                canonical: row.canonical,
                subtype_diff: row.subtype_diff,
            };
            (row.name, range)
        })
        .collect();
    schema.functions = rows
        .functions
        .into_iter()
        .map(|row| (row.name, row.definition))
        .collect();
    schema.event_triggers = rows
        .event_triggers
        .into_iter()
        .map(|row| {
            let trigger = EventTrigger {
                event: row.event,
                function: row.function,
                tags: row.tags.unwrap_or_default(),
                mode: rows::trigger_mode(&row.enabled),
            };
            (row.name, trigger)
        })
        .collect();
    Ok(())
}

/// Sequences, tables with their columns, constraints, triggers and
/// statistics, indexes and views with their triggers; of the relations
/// `only` when given, with their names, and then with sequential scans off
/// for the rest of the caller's transaction. Relations that are
/// [tables only](Only::tables_only) are read with a statement of the parts
/// that can have rows for them: its plan is half as large, and starting it
/// (opening each catalog and index it reads) costs as much as running it.
pub(super) async fn read_relations(
    conn: &mut PgConnection,
    only: Option<Only<'_>>,
) -> Result<rows::Relations, sqlx::Error> {
    // The version the server announced at connection; unknown, it is taken
    // for a recent one.
    let queries: &RelationQueries = match conn.server_version_num() {
        Some(version) if version < 140000 => &RELATIONS_13,
        _ => &RELATIONS,
    };
    match only {
        None => fetch_json(sqlx::query(AssertSqlSafe(queries.all.as_str())), conn).await,
        Some(Only { oids, tables_only }) => {
            // The statement is planned once for any list of relations, and
            // that plan scans `pg_class` whole in each of its nine parts
            // rather than look the few relations up by oid: twice as slow.
            // The changed-rows scan needs sequential scans, so they are
            // turned off only here.
            sqlx::raw_sql("SET LOCAL enable_seqscan TO off")
                .execute(&mut *conn)
                .await?;
            let query = if tables_only {
                &queries.some_tables
            } else {
                &queries.some
            };
            fetch_json(sqlx::query(AssertSqlSafe(query.as_str())).bind(oids), conn).await
        }
    }
}

/// The rows of the introspection queries, as their JSON names them.
pub(super) mod rows {
    use super::super::model::{
        Column, Constraint, ConstraintKind, Identity, Index, Info, Schema, Sequence, Table,
        TriggerMode, View,
    };
    use super::without_index_name;
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Named {
        pub name: String,
    }

    #[derive(Deserialize)]
    pub struct Enum {
        pub name: String,
        pub labels: Vec<String>,
    }

    #[derive(Deserialize)]
    pub struct DomainRow {
        pub name: String,
        pub data_type: String,
        #[serde(default)]
        pub collation: Option<String>,
        pub default_expr: Option<String>,
        pub not_null: bool,
        pub checks: Option<std::collections::BTreeMap<String, String>>,
    }

    #[derive(Deserialize)]
    pub struct Composite {
        pub name: String,
        pub attributes: Option<Vec<super::Attribute>>,
    }

    #[derive(Deserialize)]
    pub struct RangeRow {
        pub name: String,
        pub subtype: String,
        pub subtype_opclass: Option<String>,
        pub collation: Option<String>,
        pub canonical: Option<String>,
        pub subtype_diff: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct Function {
        pub name: String,
        pub definition: String,
    }

    #[derive(Deserialize)]
    pub struct EventTriggerRow {
        pub name: String,
        pub event: String,
        pub function: String,
        pub tags: Option<Vec<String>>,
        /// `pg_event_trigger.evtenabled`, as [`TriggerRow::enabled`].
        pub enabled: String,
    }

    #[derive(Deserialize)]
    pub struct Globals {
        pub schemas: Vec<Named>,
        pub extensions: Vec<Named>,
        pub enums: Vec<Enum>,
        pub domains: Vec<DomainRow>,
        #[serde(default)]
        pub composites: Vec<Composite>,
        #[serde(default)]
        pub ranges: Vec<RangeRow>,
        pub functions: Vec<Function>,
        pub event_triggers: Vec<EventTriggerRow>,
    }

    /// The mode of a trigger or event trigger whose `tgenabled` or
    /// `evtenabled` is `enabled`: `None` when as created (`O`).
    pub fn trigger_mode(enabled: &str) -> Option<TriggerMode> {
        match enabled {
            "D" => Some(TriggerMode::Disabled),
            "R" => Some(TriggerMode::Replica),
            "A" => Some(TriggerMode::Always),
            _ => None,
        }
    }

    #[derive(Deserialize)]
    pub struct SequenceRow {
        name: String,
        data_type: String,
        seqstart: i64,
        seqincrement: i64,
        seqmin: i64,
        seqmax: i64,
        seqcycle: bool,
        owned_by: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct TableRow {
        name: String,
        partition_key: Option<String>,
        partition_of: Option<String>,
        inherits: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    pub struct ColumnRow {
        tbl: String,
        name: String,
        position: i16,
        data_type: String,
        not_null: bool,
        default_expr: Option<String>,
        generated: Option<String>,
        identity: Option<String>,
        collation: Option<String>,
        seq_type: Option<String>,
        seqstart: Option<i64>,
        seqincrement: Option<i64>,
        seqmin: Option<i64>,
        seqmax: Option<i64>,
        seqcycle: Option<bool>,
        storage: Option<String>,
        compression: Option<String>,
        stattarget: Option<i32>,
    }

    #[derive(Deserialize)]
    pub struct ConstraintRow {
        tbl: String,
        name: String,
        kind: String,
        definition: String,
        /// The `tgenabled` of its internal triggers other than `O`.
        trigger_modes: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    pub struct IndexRow {
        name: String,
        bare: String,
        tbl: String,
        definition: String,
        valid: bool,
    }

    #[derive(Deserialize)]
    pub struct ViewRow {
        name: String,
        materialized: bool,
        definition: String,
        options: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    pub struct StatisticsRow {
        tbl: String,
        name: String,
        definition: String,
    }

    #[derive(Deserialize)]
    pub struct TriggerRow {
        tbl: String,
        name: String,
        /// `None` for a trigger cloned onto a partition.
        definition: Option<String>,
        /// `pg_trigger.tgenabled`: `O` (as created), `D`, `R` or `A`.
        enabled: String,
    }

    #[derive(Deserialize)]
    pub struct Relations {
        /// The qualified names of the relations asked for, whatever their
        /// kind; only when some were.
        #[serde(default)]
        pub names: Vec<Named>,
        /// Not read for tables only, as the views, triggers and statistics.
        #[serde(default)]
        sequences: Vec<SequenceRow>,
        tables: Vec<TableRow>,
        columns: Vec<ColumnRow>,
        constraints: Vec<ConstraintRow>,
        indexes: Vec<IndexRow>,
        #[serde(default)]
        views: Vec<ViewRow>,
        #[serde(default)]
        triggers: Vec<TriggerRow>,
        #[serde(default)]
        statistics: Vec<StatisticsRow>,
    }

    impl Relations {
        /// Adds the relations to `schema`, replacing any of the same name.
        pub fn merge_into(self, schema: &mut Schema) {
            for row in self.sequences {
                schema.sequences.insert(
                    row.name,
                    Sequence {
                        data_type: row.data_type,
                        start: row.seqstart,
                        increment: row.seqincrement,
                        min: row.seqmin,
                        max: row.seqmax,
                        cycle: row.seqcycle,
                        owned_by: row.owned_by,
                    },
                );
            }
            for row in self.tables {
                schema.tables.insert(
                    row.name,
                    Table {
                        partition_key: row.partition_key,
                        partition_of: row.partition_of,
                        inherits: row.inherits.unwrap_or_default().into_iter().collect(),
                        ..Table::default()
                    },
                );
            }
            for row in self.columns {
                // A column of a table the snapshot does not list (none: the
                // rows come from one snapshot) would have nowhere to go.
                let Some(table) = schema.tables.get_mut(&row.tbl) else {
                    continue;
                };
                let identity = row.identity.map(|generation| Identity {
                    generation,
                    sequence: Sequence {
                        data_type: row.seq_type.unwrap_or_default(),
                        start: row.seqstart.unwrap_or(0),
                        increment: row.seqincrement.unwrap_or(0),
                        min: row.seqmin.unwrap_or(0),
                        max: row.seqmax.unwrap_or(0),
                        cycle: row.seqcycle.unwrap_or(false),
                        owned_by: None,
                    },
                });
                table.columns.insert(
                    row.name,
                    Column {
                        data_type: row.data_type,
                        collation: row.collation,
                        not_null: row.not_null,
                        default: row.default_expr,
                        generated: row.generated,
                        identity,
                        position: Info(row.position),
                        storage: row.storage,
                        compression: row.compression,
                        statistics: row.stattarget,
                    },
                );
            }
            for row in self.constraints {
                let Some(table) = schema.tables.get_mut(&row.tbl) else {
                    continue;
                };
                let kind = match row.kind.as_str() {
                    "p" => ConstraintKind::PrimaryKey,
                    "u" => ConstraintKind::Unique,
                    "c" => ConstraintKind::Check,
                    "f" => ConstraintKind::ForeignKey,
                    _ => ConstraintKind::Exclusion,
                };
                let modes = row.trigger_modes.unwrap_or_default();
                table.constraints.push(Constraint {
                    kind,
                    definition: row.definition,
                    name: Info(row.name),
                    triggers_disabled: modes.iter().any(|mode| mode == "D" || mode == "R"),
                    // Disabled is `triggers_disabled`, as it was read first.
                    trigger_modes: modes
                        .iter()
                        .filter_map(|mode| trigger_mode(mode))
                        .filter(|mode| *mode != TriggerMode::Disabled)
                        .collect(),
                });
            }
            for row in self.indexes {
                schema.indexes.push(Index {
                    table: row.tbl,
                    definition: without_index_name(&row.definition, &row.bare),
                    valid: row.valid,
                    name: Info(row.name),
                });
            }
            for row in self.views {
                schema.views.insert(
                    row.name,
                    View {
                        materialized: row.materialized,
                        definition: row
                            .definition
                            .trim()
                            .trim_end_matches(';')
                            .trim_end()
                            .to_string(),
                        options: row.options.unwrap_or_default(),
                        ..View::default()
                    },
                );
            }
            for row in self.triggers {
                // A view's triggers cannot be disabled: it has no modes.
                if let Some(view) = schema.views.get_mut(&row.tbl) {
                    if let Some(definition) = row.definition {
                        view.triggers.insert(row.name, definition);
                    }
                    continue;
                }
                let Some(table) = schema.tables.get_mut(&row.tbl) else {
                    continue;
                };
                let mode = trigger_mode(&row.enabled);
                match (row.definition, mode) {
                    (Some(definition), mode) => {
                        if let Some(mode) = mode {
                            table.trigger_modes.insert(row.name.clone(), mode);
                        }
                        table.triggers.insert(row.name, definition);
                    }
                    (None, mode) => {
                        table.cloned_trigger_modes.insert(row.name, mode);
                    }
                }
            }
            for row in self.statistics {
                if let Some(table) = schema.tables.get_mut(&row.tbl) {
                    table.statistics.insert(row.name, row.definition);
                }
            }
        }
    }
}

/// `CREATE INDEX pours_tap_idx ON ...` → `CREATE INDEX ON ...`, so that an
/// index is identified by what it indexes, not by its name.
fn without_index_name(definition: &str, quoted_name: &str) -> String {
    let named = format!("INDEX {quoted_name} ON ");
    match definition.find(&named) {
        Some(at) => format!(
            "{}INDEX ON {}",
            &definition[..at],
            &definition[at + named.len()..]
        ),
        None => definition.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_index_name;

    #[test]
    fn index_name_is_removed_from_the_definition() {
        assert_eq!(
            without_index_name(
                "CREATE UNIQUE INDEX \"Odd idx\" ON public.t USING btree (a)",
                "\"Odd idx\""
            ),
            "CREATE UNIQUE INDEX ON public.t USING btree (a)"
        );
    }
}
