-- expect: denied-table@6
-- expect-risk: additive
-- The deny-list names the table `pours`; a quoted "Pours" is another
-- table, as PostgreSQL compares names, and an unquoted POURS is pours.
CREATE TABLE "Pours" (id bigint PRIMARY KEY);
SELECT count(*) FROM POURS;
