-- expect: set-not-null@5 missing-lock-timeout@5 non-transactional-statement@6
-- expect-risk: risky
-- expect-transactional: false
CREATE TABLE a (id int);
ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS kegs_tmp_idx ON kegs (tap_id);
