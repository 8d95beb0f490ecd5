-- expect: none
-- expect-risk: additive
CREATE TABLE scratch (id int);
ALTER TABLE scratch DROP COLUMN id;
DROP TABLE scratch;
