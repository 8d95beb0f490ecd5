-- A column of a domain with a volatile default rewrites the table.
-- expect: add-column-volatile-default@5
-- expect-risk: risky
SET lock_timeout = '2s';
ALTER TABLE kegs ADD COLUMN tapped_at stamp;
