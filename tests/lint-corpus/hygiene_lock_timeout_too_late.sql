-- expect: missing-lock-timeout@3
-- expect-risk: additive
ALTER TABLE taps ADD COLUMN note text;
SET lock_timeout = '2s';
