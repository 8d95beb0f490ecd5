-- expect: non-transactional-statement@4
-- expect-risk: additive
-- expect-transactional: false
REINDEX INDEX CONCURRENTLY pour_records_poured_at_idx;
