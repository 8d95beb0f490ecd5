-- The pattern `set-not-null` teaches, over separate revisions: a check
-- added NOT VALID (instant), validated later, then SET NOT NULL.
-- expect: none
-- expect-risk: additive
SET lock_timeout = '2s';
ALTER TABLE kegs ADD CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID;
