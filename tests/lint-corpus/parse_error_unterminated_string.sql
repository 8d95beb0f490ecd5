-- expect: none
-- expect-risk: destructive
-- expect-parse-error: 4:38
INSERT INTO beverages (name) VALUES ('Tripel);
