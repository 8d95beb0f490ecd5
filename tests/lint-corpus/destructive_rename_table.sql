-- expect: rename-table@4
-- expect-risk: destructive
SET lock_timeout = '2s';
ALTER TABLE kegs RENAME TO barrels;
