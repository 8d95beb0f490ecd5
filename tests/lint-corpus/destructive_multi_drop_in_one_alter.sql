-- expect: drop-column@4 drop-column@4 drop-constraint@4 drop-default@4
-- expect-risk: destructive
SET lock_timeout = '2s';
ALTER TABLE taps DROP COLUMN label, DROP COLUMN position, DROP CONSTRAINT taps_controller_fk, ALTER COLUMN venue_id DROP DEFAULT;
