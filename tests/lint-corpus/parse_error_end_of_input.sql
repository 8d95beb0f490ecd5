-- expect: none
-- expect-risk: destructive
-- expect-parse-error: 6:23
CREATE TABLE unfinished (
    id int PRIMARY KEY,
    name text NOT NULL
