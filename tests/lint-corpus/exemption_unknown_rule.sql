-- expect: invalid-exemption@4 drop-table@5
-- expect-risk: destructive
SET lock_timeout = '2s';
-- schemagate:allow drop-tables reason="typo in the rule id"
DROP TABLE legacy_pours_import;
