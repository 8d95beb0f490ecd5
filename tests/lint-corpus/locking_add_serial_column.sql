-- expect: add-column-volatile-default@4
-- expect-risk: risky
SET lock_timeout = '2s';
ALTER TABLE taps ADD COLUMN seq bigserial;
