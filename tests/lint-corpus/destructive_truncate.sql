-- expect: truncate-table@4
-- expect-risk: destructive
SET lock_timeout = '2s';
TRUNCATE pour_records RESTART IDENTITY;
