-- expect: create-index-non-concurrently@5
-- expect-exempted: create-index-non-concurrently@5
-- expect-risk: risky
SET lock_timeout = '2s';
/* schemagate:allow create-index-non-concurrently reason="beverages has 40 rows" */ CREATE INDEX beverages_style_idx ON beverages (style);
