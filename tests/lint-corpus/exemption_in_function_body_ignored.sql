-- expect: drop-table@8
-- expect-risk: destructive
SET lock_timeout = '2s';
CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- schemagate:allow drop-table reason="this is function text, not a comment"
END $$;
DROP TABLE legacy_pours_import;
