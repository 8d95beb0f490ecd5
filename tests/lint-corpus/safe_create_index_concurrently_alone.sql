-- expect: non-transactional-statement@5
-- expect-risk: additive
-- expect-transactional: false
SET lock_timeout = '2s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS pour_records_tap_idx ON pour_records (tap_id);
