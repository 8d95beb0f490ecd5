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
/// With a transaction id (`x.xid`), each part also names the relations
/// whose rows that transaction wrote (`touched`), or says it wrote a schema,
/// extension, enum or function (`global`).
macro_rules! part {
    ($name:literal, $catalog:literal, $filter:literal, $touched:literal, $global:literal) => {
        concat!(
            "SELECT '", $name, "' || count(*) || ':' || coalesce(sum(hashtidextended(c.ctid, c.xmin::text::bigint)), 0), ",
            $touched, ", ", $global, " FROM pg_catalog.", $catalog, " c, x ", $filter
        )
    };
}

macro_rules! parts {
    () => {
        concat!(
            "parts (part, touched, global) AS (",
            part!("namespace", "pg_namespace", "", "NULL::pg_catalog.oid[]", "bool_or(c.xmin = x.xid)"),
            " UNION ALL ",
            part!("extension", "pg_extension", "", "NULL", "bool_or(c.xmin = x.xid)"),
            " UNION ALL ",
            part!("class", "pg_class", "WHERE c.oid >= 16384", "array_agg(c.oid) FILTER (WHERE c.xmin = x.xid)", "false"),
            " UNION ALL ",
            part!("attribute", "pg_attribute", "WHERE c.attrelid >= 16384 AND c.attnum > 0", "array_agg(c.attrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            " UNION ALL ",
            part!("attrdef", "pg_attrdef", "WHERE c.oid >= 16384", "array_agg(c.adrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            " UNION ALL ",
            part!("constraint", "pg_constraint", "WHERE c.oid >= 16384", "array_agg(c.conrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            " UNION ALL ",
            part!("index", "pg_index", "WHERE c.indexrelid >= 16384", "array_agg(c.indrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            " UNION ALL ",
            part!("type", "pg_type", "WHERE c.oid >= 16384", "NULL", "bool_or(c.xmin = x.xid AND c.typtype = 'e')"),
            " UNION ALL ",
            part!("enum", "pg_enum", "WHERE c.oid >= 16384", "NULL", "bool_or(c.xmin = x.xid)"),
            " UNION ALL ",
            part!("proc", "pg_proc", "WHERE c.oid >= 16384", "NULL", "bool_or(c.xmin = x.xid)"),
            " UNION ALL ",
            part!("sequence", "pg_sequence", "WHERE c.seqrelid >= 16384", "NULL", "false"),
            " UNION ALL ",
            part!("trigger", "pg_trigger", "WHERE c.oid >= 16384", "array_agg(c.tgrelid) FILTER (WHERE c.xmin = x.xid)", "false"),
            " UNION ALL ",
            part!("inherits", "pg_inherits", "WHERE c.inhrelid >= 16384",
                "array_agg(c.inhrelid) FILTER (WHERE c.xmin = x.xid) || array_agg(c.inhparent) FILTER (WHERE c.xmin = x.xid)", "false"),
            " UNION ALL ",
            part!("rewrite", "pg_rewrite", "WHERE c.oid >= 16384", "array_agg(c.ev_class) FILTER (WHERE c.xmin = x.xid)", "false"),
            " UNION ALL ",
            part!("depend", "pg_depend", "WHERE c.objid >= 16384", "NULL", "false"),
            " UNION ALL ",
            part!("collation", "pg_collation", "WHERE c.oid >= 16384", "NULL", "false"),
            ") SELECT md5(string_agg(part, '|' ORDER BY part)) AS stamp, \
               pg_catalog.pg_current_snapshot()::text AS snapshot, \
               (SELECT coalesce(array_agg(DISTINCT relation), '{}') FROM parts, unnest(touched) AS relation) AS touched, \
               coalesce(bool_or(global), false) AS global \
             FROM parts"
        )
    };
}

/// The stamp alone. Without a parameter its plan is cached with the
/// prepared statement; a parameter would have it planned again at every
/// run, and planning sixteen catalog scans costs about as much as running
/// them.
const STAMP: &str = concat!("WITH x (xid) AS (SELECT NULL::xid), ", parts!());
/// The stamp with what transaction `$1` (a `xid8`) changed.
const STAMP_WITH_CHANGES: &str =
    concat!("WITH x (xid) AS (SELECT $1::text::xid8::xid), ", parts!());

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
    let row = match xid {
        None => sqlx::query(STAMP).fetch_one(conn).await?,
        Some(xid) => {
            sqlx::query(STAMP_WITH_CHANGES)
                .bind(xid)
                .fetch_one(conn)
                .await?
        }
    };
    Ok(Changes {
        stamp: row.try_get("stamp")?,
        snapshot: row.try_get("snapshot")?,
        relations: row.try_get::<Vec<Oid>, _>("touched")?,
        globals: row.try_get("global")?,
    })
}
