//! The catalog stamp: a digest of the row versions (`ctid`, `xmin`) of every
//! `pg_catalog` row the introspection reads for user objects. Any DDL inserts,
//! deletes or updates one of those rows, so an unchanged stamp proves the
//! schema is unchanged without reading it. A changed stamp proves nothing (a
//! `VACUUM FULL` of a catalog or a temporary table changes it too): the
//! caller then reads and compares the whole schema.

use sqlx::PgConnection;

/// Per catalog, the number of rows and the sum of a 64-bit hash of each
/// row's version: a sum needs no sort and no string of every row, and a
/// change that leaves both equal by accident has a chance of about 2^-64.
/// Rows of built-in objects (oid below `FirstNormalObjectId`, 16384) and
/// system columns (attnum < 1, created and dropped with their table) cannot
/// change by user DDL; leaving them out keeps the stamp cheap. The small
/// namespace and extension catalogs are digested whole.
const STAMP: &str = "SELECT md5(string_agg(part, '|' ORDER BY part)) FROM ( \
    SELECT 'namespace' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) AS part FROM pg_catalog.pg_namespace \
    UNION ALL SELECT 'extension' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_extension \
    UNION ALL SELECT 'class' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_class WHERE oid >= 16384 \
    UNION ALL SELECT 'attribute' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_attribute WHERE attrelid >= 16384 AND attnum > 0 \
    UNION ALL SELECT 'attrdef' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_attrdef WHERE oid >= 16384 \
    UNION ALL SELECT 'constraint' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_constraint WHERE oid >= 16384 \
    UNION ALL SELECT 'index' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_index WHERE indexrelid >= 16384 \
    UNION ALL SELECT 'type' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_type WHERE oid >= 16384 \
    UNION ALL SELECT 'enum' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_enum WHERE oid >= 16384 \
    UNION ALL SELECT 'proc' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_proc WHERE oid >= 16384 \
    UNION ALL SELECT 'sequence' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_sequence WHERE seqrelid >= 16384 \
    UNION ALL SELECT 'trigger' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_trigger WHERE oid >= 16384 \
    UNION ALL SELECT 'inherits' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_inherits WHERE inhrelid >= 16384 \
    UNION ALL SELECT 'rewrite' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_rewrite WHERE oid >= 16384 \
    UNION ALL SELECT 'depend' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_depend WHERE objid >= 16384 \
    UNION ALL SELECT 'collation' || count(*) || ':' || coalesce(sum(hashtextextended(ctid::text || ':' || xmin::text, 0)::numeric), 0) FROM pg_catalog.pg_collation WHERE oid >= 16384 \
  ) parts";

/// The catalog stamp of the database behind `conn`, read in the caller's
/// transaction when there is one (so that it describes the same snapshot as
/// an introspection that follows in it).
pub async fn catalog_stamp(conn: &mut PgConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(STAMP).fetch_one(conn).await
}
