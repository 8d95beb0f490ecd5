-- expect: none
-- expect-risk: additive
-- The DROP TABLE and TRUNCATE below are function body text, not statements.
CREATE OR REPLACE FUNCTION reset_demo_data() RETURNS void
LANGUAGE plpgsql AS $body$
BEGIN
    DROP TABLE IF EXISTS demo_pours;
    TRUNCATE kegs;
    DELETE FROM taps;
END;
$body$;
