-- expect: drop-column@5
-- expect-exempted: drop-column@5
-- expect-risk: destructive
SET lock_timeout = '2s';
ALTER TABLE kegs DROP COLUMN deposit; -- schemagate:allow drop-column reason="unused since 2.3"
