-- expect: none
-- expect-risk: destructive
-- expect-parse-error: 5:1
CREATE TABLE ok (id int);
CRATE TABLE broken (id int);
DROP TABLE kegs;
