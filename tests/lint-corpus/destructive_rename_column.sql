-- expect: rename-column@4
-- expect-risk: destructive
SET lock_timeout = '2s';
ALTER TABLE pour_records RENAME COLUMN amount TO amount_eur;
