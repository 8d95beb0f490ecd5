-- expect: drop-not-null@4
-- expect-risk: destructive
SET lock_timeout = '2s';
ALTER TABLE kegs ALTER COLUMN beverage_id DROP NOT NULL;
