-- expect: none
-- expect-risk: additive
-- A constant default is stored in the catalog: no rewrite since PG 11.
SET lock_timeout = '2s';
ALTER TABLE beverages ADD COLUMN is_alcoholic boolean NOT NULL DEFAULT true;
ALTER TABLE kegs ADD COLUMN deposit numeric(8, 2) DEFAULT 30.00;
