-- expect: none
-- expect-risk: additive
ANALYZE pour_records;
