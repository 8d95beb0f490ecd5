-- expect: create-table-partition-of@4
-- expect-risk: risky
SET lock_timeout = '2s';
CREATE TABLE pour_archive_2027 PARTITION OF pour_archive
    FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
