-- expect: drop-default@4
-- expect-risk: destructive
SET lock_timeout = '2s';
ALTER TABLE venues ALTER COLUMN currency DROP DEFAULT;
