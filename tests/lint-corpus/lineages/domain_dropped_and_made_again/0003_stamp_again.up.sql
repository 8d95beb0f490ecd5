-- Dropped and made again without a default, the domain starts bare.
-- expect: drop-object@5
-- expect-risk: destructive
SET lock_timeout = '2s';
DROP DOMAIN stamp CASCADE;
CREATE DOMAIN stamp AS timestamptz;
