-- expect: drop-table@10 rename-table@13 drop-column@14 truncate-table@19 truncate-table@22
-- expect-risk: destructive
-- A name stops meaning the object the revision created once that object
-- is dropped (or renamed away), and an unqualified name once the revision
-- changes the search path: from then on it may mean an older table.
SET lock_timeout = '2s';
-- The second DROP reaches the older, permanent orders.
CREATE TEMP TABLE orders (id int);
DROP TABLE orders;
DROP TABLE orders;
CREATE TABLE orders_new (id int, name text);
DROP TABLE orders_new;
ALTER TABLE orders RENAME TO orders_new;
ALTER TABLE orders_new DROP COLUMN name;
-- staging.orders was new; after RESET, orders is public.orders.
SET search_path = staging;
CREATE TABLE orders (id int);
RESET search_path;
TRUNCATE orders;
CREATE TABLE scratch (id int);
SELECT set_config('search_path', 'archive', true);
TRUNCATE scratch;
