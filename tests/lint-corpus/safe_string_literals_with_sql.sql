-- expect: none
-- expect-risk: additive
-- Semicolons and DDL inside string literals must not split or trigger rules.
INSERT INTO beverages (name, style, abv_percent, price_per_cl)
VALUES ('DROP TABLE kegs; --', 'weird; style', 0, 0);
SELECT 'TRUNCATE pour_records;' AS note, $$ DELETE FROM taps $$ AS other;
