-- expect: none
-- expect-risk: additive
CREATE TABLE feedback (id int PRIMARY KEY, body text);
