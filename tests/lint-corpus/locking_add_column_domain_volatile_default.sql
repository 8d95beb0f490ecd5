-- expect: add-column-volatile-default@8 add-column-volatile-default@11
-- expect-risk: risky
-- A column without a default of its own takes its domain's: a volatile one
-- gives every existing row its own value, rewriting the table (checked on
-- PostgreSQL 15: the table's filenode changes).
SET lock_timeout = '2s';
CREATE DOMAIN pour_token AS uuid DEFAULT gen_random_uuid();
ALTER TABLE taps ADD COLUMN pour_token pour_token;
CREATE DOMAIN keg_serial AS text;
ALTER DOMAIN keg_serial SET DEFAULT md5(random()::text);
ALTER TABLE kegs ADD COLUMN serial keg_serial;
-- The column's own default wins over the domain's; a constant one, or one
-- dropped first, rewrites nothing.
ALTER TABLE taps ADD COLUMN token pour_token DEFAULT NULL;
CREATE DOMAIN tap_count AS integer DEFAULT 0;
ALTER TABLE taps ADD COLUMN pulls tap_count;
ALTER DOMAIN keg_serial DROP DEFAULT;
ALTER TABLE taps ADD COLUMN keg keg_serial;
