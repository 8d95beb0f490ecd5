-- expect: none
-- expect-risk: additive
-- expect-down-parse-error: 2:1
CREATE TABLE feedback (id int PRIMARY KEY);
