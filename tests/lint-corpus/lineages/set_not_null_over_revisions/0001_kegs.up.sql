-- expect: none
-- expect-risk: additive
CREATE TABLE kegs (id bigint PRIMARY KEY, tap_id int);
