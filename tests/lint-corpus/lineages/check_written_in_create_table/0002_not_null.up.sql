-- expect: set-not-null@5
-- expect-risk: additive
SET lock_timeout = '2s';
-- Proven by the check of the CREATE TABLE: the scan is skipped.
ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
ALTER TABLE kegs DROP CONSTRAINT tap_nn;
