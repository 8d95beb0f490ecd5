-- expect: set-not-null@4
-- expect-risk: risky
SET lock_timeout = '2s';
ALTER TABLE taps ALTER COLUMN label SET NOT NULL;
