-- expect: none
-- expect-risk: additive
-- The way around CREATE TABLE ... PARTITION OF: ATTACH takes only a SHARE
-- UPDATE EXCLUSIVE lock on the partitioned table, and an empty new table
-- is checked at once.
SET lock_timeout = '2s';
CREATE TABLE pour_archive_2027 (LIKE pour_archive INCLUDING ALL);
ALTER TABLE pour_archive ATTACH PARTITION pour_archive_2027
    FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
