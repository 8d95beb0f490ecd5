-- expect: none
-- expect-risk: additive
SET lock_timeout = '2s';
ALTER TABLE controllers ALTER COLUMN firmware SET DEFAULT '1.0.0';
