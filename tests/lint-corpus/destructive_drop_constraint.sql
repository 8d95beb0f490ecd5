-- expect: drop-constraint@4
-- expect-risk: destructive
SET lock_timeout = '2s';
ALTER TABLE kegs DROP CONSTRAINT kegs_remaining_ok;
