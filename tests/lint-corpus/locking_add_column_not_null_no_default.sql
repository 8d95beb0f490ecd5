-- expect: add-column-not-null-without-default@4
-- expect-risk: risky
SET lock_timeout = '2s';
ALTER TABLE controllers ADD COLUMN hardware_rev text NOT NULL;
