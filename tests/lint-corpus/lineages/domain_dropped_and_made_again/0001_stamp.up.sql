-- expect: none
-- expect-risk: additive
CREATE DOMAIN stamp AS timestamptz DEFAULT clock_timestamp();
CREATE TABLE kegs (id bigint PRIMARY KEY);
