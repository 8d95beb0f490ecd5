-- expect: none
-- expect-risk: additive
INSERT INTO beverages (name, style, abv_percent, price_per_cl)
VALUES ('House Pils', 'pilsner', 5.0, 0.45),
       ('Tripel', 'tripel', 8.5, 0.80)
ON CONFLICT DO NOTHING;
