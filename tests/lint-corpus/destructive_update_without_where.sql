-- expect: update-without-where@3
-- expect-risk: destructive
UPDATE beverages SET price_per_cl = price_per_cl * 1.05;
