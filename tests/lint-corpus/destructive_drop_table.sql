-- expect: drop-table@3 missing-lock-timeout@3
-- expect-risk: destructive
DROP TABLE IF EXISTS legacy_pours_import;
