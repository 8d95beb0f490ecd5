-- expect: none
-- expect-risk: destructive
-- expect-parse-error: 5:38
CREATE TABLE ok (id int);
ALTER TABLE ok ADD COLUMN x intt NOT NUL;
