-- expect: none
-- expect-risk: additive
SET LOCAL lock_timeout = '1s';
ALTER TABLE pour_records ADD CONSTRAINT pour_amount_positive CHECK (amount >= 0) NOT VALID;
