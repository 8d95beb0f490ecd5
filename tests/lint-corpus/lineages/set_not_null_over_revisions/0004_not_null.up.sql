-- The check validated by 0003 proves the column: the scan is skipped (info),
-- and dropping the check the NOT NULL makes redundant is no finding.
-- expect: set-not-null@6
-- expect-risk: additive
SET lock_timeout = '2s';
ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
ALTER TABLE kegs DROP CONSTRAINT tap_nn;
