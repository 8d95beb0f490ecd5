-- expect: alter-column-type@5
-- expect-risk: destructive
-- Narrowing numeric(12,2) to integer loses the cents.
SET lock_timeout = '2s';
ALTER TABLE pour_records ALTER COLUMN amount TYPE integer USING amount::integer;
