-- expect: drop-schema@3
-- expect-risk: destructive
DROP SCHEMA billing CASCADE;
