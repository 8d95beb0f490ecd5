-- expect: none
-- expect-risk: additive
SET lock_timeout = '2s';
ALTER TABLE kegs VALIDATE CONSTRAINT tap_nn;
