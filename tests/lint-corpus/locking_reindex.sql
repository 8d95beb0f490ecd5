-- expect: reindex-non-concurrently@4
-- expect-risk: risky
SET lock_timeout = '2s';
REINDEX TABLE pour_records;
