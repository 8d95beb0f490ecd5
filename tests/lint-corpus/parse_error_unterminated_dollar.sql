-- expect: none
-- expect-risk: destructive
-- expect-parse-error: 4:49
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1;
