//! The catalog stamp: a digest of the row versions (`ctid`, `xmin`) of every
//! `pg_catalog` row the introspection reads for user objects. Any DDL inserts,
//! deletes or updates one of those rows, so an unchanged stamp proves the
//! schema is unchanged without reading it. A changed stamp proves nothing (a
//! `VACUUM FULL` of a catalog or a temporary table changes it too): the
//! caller then reads and compares the whole schema.
//!
//! The same pass over the catalogs also finds the rows one transaction
//! wrote, for [`introspect_after`](super::introspect_after).

use super::incremental::Changes;
use sqlx::postgres::types::Oid;
use sqlx::{PgConnection, Row};

/// One part per catalog: the number of rows and the sum of a 64-bit hash of
/// each row's version (`hashtidextended(ctid, xmin)`): a sum needs no sort,
/// and a change that leaves both equal by accident has a chance of about
/// 2^-64. Rows of built-in objects (oid below `FirstNormalObjectId`, 16384)
/// and system columns (attnum < 1, created and dropped with their table)
/// cannot change by user DDL; leaving them out keeps the stamp cheap. The
/// small namespace and extension catalogs are digested whole.
///
/// With `$1`, a transaction id, each part also names the relations whose
/// rows that transaction wrote (`touched`), or says it wrote a schema,
/// extension, enum or function (`global`); with `$1` NULL both stay empty.
macro_rules! part {
    ($name:literal, $catalog:literal, $touched:literal, $global:literal, $filter:literal) => {
        concat!(
            "SELECT '",
            $name,
            "' || count(*) || ':' || coalesce(sum(hashtidextended(ctid, xmin::text::bigint)), 0), ",
            $touched,
            ", ",
            $global,
            " FROM pg_catalog.",
            $catalog,
            " ",
            $filter
        )
    };
}

const STAMP: &str = concat!(
    "WITH parts (part, touched, global) AS (",
    part!(
        "namespace",
        "pg_namespace",
        "NULL::pg_catalog.oid[]",
        "bool_or(xmin = $1::text::xid)",
        ""
    ),
    " UNION ALL ",
    part!(
        "extension",
        "pg_extension",
        "NULL",
        "bool_or(xmin = $1::text::xid)",
        ""
    ),
    " UNION ALL ",
    part!(
        "class",
        "pg_class",
        "array_agg(oid) FILTER (WHERE xmin = $1::text::xid)",
        "false",
        "WHERE oid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "attribute",
        "pg_attribute",
        "array_agg(attrelid) FILTER (WHERE xmin = $1::text::xid)",
        "false",
        "WHERE attrelid >= 16384 AND attnum > 0"
    ),
    " UNION ALL ",
    part!(
        "attrdef",
        "pg_attrdef",
        "array_agg(adrelid) FILTER (WHERE xmin = $1::text::xid)",
        "false",
        "WHERE oid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "constraint",
        "pg_constraint",
        "array_agg(conrelid) FILTER (WHERE xmin = $1::text::xid)",
        "false",
        "WHERE oid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "index",
        "pg_index",
        "array_agg(indrelid) FILTER (WHERE xmin = $1::text::xid)",
        "false",
        "WHERE indexrelid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "type",
        "pg_type",
        "NULL",
        "bool_or(xmin = $1::text::xid AND typtype = 'e')",
        "WHERE oid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "enum",
        "pg_enum",
        "NULL",
        "bool_or(xmin = $1::text::xid)",
        "WHERE oid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "proc",
        "pg_proc",
        "NULL",
        "bool_or(xmin = $1::text::xid)",
        "WHERE oid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "sequence",
        "pg_sequence",
        "NULL",
        "false",
        "WHERE seqrelid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "trigger",
        "pg_trigger",
        "array_agg(tgrelid) FILTER (WHERE xmin = $1::text::xid)",
        "false",
        "WHERE oid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "inherits",
        "pg_inherits",
        "array_agg(inhrelid) FILTER (WHERE xmin = $1::text::xid) || array_agg(inhparent) FILTER (WHERE xmin = $1::text::xid)",
        "false",
        "WHERE inhrelid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "rewrite",
        "pg_rewrite",
        "array_agg(ev_class) FILTER (WHERE xmin = $1::text::xid)",
        "false",
        "WHERE oid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "depend",
        "pg_depend",
        "NULL",
        "false",
        "WHERE objid >= 16384"
    ),
    " UNION ALL ",
    part!(
        "collation",
        "pg_collation",
        "NULL",
        "bool_or(xmin = $1::text::xid)",
        "WHERE oid >= 16384"
    ),
    ") SELECT md5(string_agg(part, '|' ORDER BY part)) AS stamp, \
       (SELECT coalesce(array_agg(DISTINCT relation), '{}') FROM parts, unnest(touched) AS relation) AS touched, \
       coalesce(bool_or(global), false) AS global \
     FROM parts"
);

/// The catalog stamp of the database behind `conn`, read in the caller's
/// transaction when there is one (so that it describes the same snapshot as
/// an introspection that follows in it).
pub async fn catalog_stamp(conn: &mut PgConnection) -> Result<String, sqlx::Error> {
    Ok(read(conn, None).await?.stamp)
}

/// The stamp and, for transaction `xid`, what it changed.
pub(super) async fn read(
    conn: &mut PgConnection,
    xid: Option<&str>,
) -> Result<Changes, sqlx::Error> {
    let row = sqlx::query(STAMP).bind(xid).fetch_one(conn).await?;
    Ok(Changes {
        stamp: row.try_get("stamp")?,
        relations: row.try_get::<Vec<Oid>, _>("touched")?,
        globals: row.try_get("global")?,
    })
}
