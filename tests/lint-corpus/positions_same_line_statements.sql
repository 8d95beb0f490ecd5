-- expect: drop-index@3:26 drop-index@3:54
-- expect-risk: destructive
SET lock_timeout = '2s'; DROP INDEX IF EXISTS a_idx; DROP INDEX IF EXISTS b_idx;
