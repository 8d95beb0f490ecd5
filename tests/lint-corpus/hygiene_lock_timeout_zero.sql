-- expect: missing-lock-timeout@4
-- expect-risk: additive
SET lock_timeout = 0;
ALTER TABLE taps ADD COLUMN note text;
