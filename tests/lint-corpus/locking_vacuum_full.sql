-- expect: vacuum-full@5 non-transactional-statement@5
-- expect-risk: risky
-- expect-transactional: false
SET lock_timeout = '2s';
VACUUM FULL pour_records;
