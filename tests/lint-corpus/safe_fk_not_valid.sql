-- expect: none
-- expect-risk: additive
-- The constraint is validated in a later revision, whose transaction
-- takes only a SHARE UPDATE EXCLUSIVE lock while it scans.
SET lock_timeout = '2s';
ALTER TABLE kegs ADD CONSTRAINT kegs_beverage_fk
    FOREIGN KEY (beverage_id) REFERENCES beverages (id) NOT VALID;
