-- expect: missing-down-migration@3
-- expect-risk: additive
CREATE TABLE feedback (id int PRIMARY KEY, body text);
