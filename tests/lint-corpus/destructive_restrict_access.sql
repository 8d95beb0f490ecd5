-- expect: restrict-access@9 restrict-access@10 restrict-access@11
-- expect: restrict-access@12 restrict-access@13 restrict-access@14
-- expect: restrict-access@15 restrict-access@16
-- expect-risk: destructive
-- Taking access away breaks running clients at once; GRANT is additive,
-- and a new table, role or function may be locked down as it is made.
SET lock_timeout = '2s';
GRANT SELECT ON pour_records TO reporting;
ALTER TABLE pour_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY venue_only ON pour_records USING (venue_id = current_setting('app.venue')::int);
ALTER TABLE kegs DISABLE ROW LEVEL SECURITY;
REVOKE SELECT ON kegs FROM reporting;
REVOKE USAGE ON SCHEMA billing FROM backend;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM reporting;
ALTER TABLE taps OWNER TO ops_owner;
ALTER ROLE backend NOLOGIN;
CREATE TABLE venue_notes (id bigint PRIMARY KEY, note text);
ALTER TABLE venue_notes ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON venue_notes FROM PUBLIC;
CREATE ROLE auditor NOLOGIN;
ALTER ROLE auditor SET statement_timeout = '5s';
