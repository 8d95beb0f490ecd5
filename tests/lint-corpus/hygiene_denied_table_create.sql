-- expect: denied-table@4
-- expect-risk: additive
-- The controllers' local journal does not belong in the backend.
CREATE TABLE pours (id integer PRIMARY KEY, tap integer, ml real);
