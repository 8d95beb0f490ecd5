-- expect: drop-object@9 drop-object@10
-- expect-risk: destructive
-- A new object dropped with CASCADE may take part of an existing table
-- with it (here the default of orders.number), and a view dropped before
-- one of its name is created is an older view.
SET lock_timeout = '2s';
CREATE SEQUENCE order_number;
ALTER TABLE orders ALTER COLUMN number SET DEFAULT nextval('order_number');
DROP SEQUENCE order_number CASCADE;
DROP VIEW recent_orders;
CREATE VIEW recent_orders AS SELECT 1 AS one;
