-- expect: missing-down-migration@4
-- expect-risk: additive
-- down: none
CREATE TABLE feedback (id int PRIMARY KEY, body text);
