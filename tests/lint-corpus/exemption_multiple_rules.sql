-- expect: rename-column@6 missing-lock-timeout@6
-- expect-exempted: rename-column@6 missing-lock-timeout@6
-- expect-risk: destructive
-- schemagate:allow rename-column, missing-lock-timeout reason="table has 3 rows; clients updated in 4.1"
-- (the allow above applies to the next statement, not to this comment)
ALTER TABLE venues RENAME COLUMN timezone TO tz;
