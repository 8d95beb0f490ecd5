-- expect: drop-column@4
-- expect-risk: destructive
SET lock_timeout = '2s';
ALTER TABLE kegs DROP COLUMN deposit;
