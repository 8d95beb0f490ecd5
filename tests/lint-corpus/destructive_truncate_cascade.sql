-- expect: truncate-table@5
-- expect-risk: destructive
-- CASCADE also empties every table with a foreign key to the truncated one.
SET lock_timeout = '2s';
TRUNCATE kegs CASCADE;
