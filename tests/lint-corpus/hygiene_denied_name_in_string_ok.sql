-- expect: none
-- expect-risk: additive
COMMENT ON TABLE pour_records IS 'replaces the controllers'' pours journal';
CREATE FUNCTION pours_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM pours $$;
