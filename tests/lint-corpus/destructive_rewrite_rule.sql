-- expect: rewrite-rule@8 rewrite-rule@9 rewrite-rule@10
-- expect-risk: destructive
-- A rule rewrites what clients send: DO INSTEAD NOTHING drops their
-- inserts while they see success. Switching or dropping one changes what
-- their statements do too. On a table made in the revision nothing
-- depends on it yet.
SET lock_timeout = '2s';
CREATE RULE pour_records_readonly AS ON INSERT TO pour_records DO INSTEAD NOTHING;
ALTER TABLE kegs DISABLE RULE kegs_soft_delete;
DROP RULE taps_redirect ON taps;
CREATE TABLE tap_log (id bigint, note text);
CREATE RULE tap_log_append_only AS ON DELETE TO tap_log DO INSTEAD NOTHING;
