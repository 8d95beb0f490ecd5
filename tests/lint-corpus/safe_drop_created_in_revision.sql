-- expect: none
-- expect-risk: additive
CREATE TABLE scratch (id int);
ALTER TABLE scratch DROP COLUMN id;
DROP TABLE scratch;
-- Other objects made and dropped again in the revision: nobody uses them yet.
CREATE VIEW scratch_v AS SELECT 1 AS one;
DROP VIEW scratch_v;
CREATE TYPE scratch_mood AS ENUM ('ok');
CREATE SEQUENCE scratch_seq;
CREATE FUNCTION scratch_fn(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION scratch_fn(int);
DROP SEQUENCE scratch_seq;
DROP TYPE scratch_mood;
-- Extended statistics made and dropped again: only the planner used them.
CREATE STATISTICS scratch_kegs_stats (dependencies) ON tap_id, volume_ml FROM kegs;
DROP STATISTICS scratch_kegs_stats;
