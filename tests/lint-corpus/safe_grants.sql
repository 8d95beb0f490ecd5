-- expect: none
-- expect-risk: additive
CREATE ROLE reporting NOLOGIN;
GRANT SELECT ON pour_records, kegs TO reporting;
GRANT USAGE ON SCHEMA public TO reporting;
