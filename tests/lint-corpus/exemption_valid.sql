-- expect: drop-table@6
-- expect-exempted: drop-table@6
-- expect-risk: destructive
SET lock_timeout = '2s';
-- schemagate:allow drop-table reason="import table emptied and archived in CHG-812"
DROP TABLE legacy_pours_import;
