-- expect: add-column-volatile-default@5
-- expect-risk: risky
-- now() does not rewrite, but stamps every existing row with the migration time.
SET lock_timeout = '2s';
ALTER TABLE kegs ADD COLUMN registered_at timestamptz NOT NULL DEFAULT now();
