-- expect: invalid-exemption@4 truncate-table@5
-- expect-risk: destructive
SET lock_timeout = '2s';
-- schemagate:allow truncate-table reason=""
TRUNCATE pour_records;
