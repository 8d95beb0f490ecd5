-- expect: drop-index@4
-- expect-risk: destructive
SET lock_timeout = '2s';
DROP INDEX kegs_tap_idx;
