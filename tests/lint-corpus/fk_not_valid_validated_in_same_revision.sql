-- expect: constraint-missing-not-valid@6
-- expect-risk: risky
SET lock_timeout = '2s';
ALTER TABLE kegs ADD CONSTRAINT kegs_beverage_fk
    FOREIGN KEY (beverage_id) REFERENCES beverages (id) NOT VALID;
ALTER TABLE kegs VALIDATE CONSTRAINT kegs_beverage_fk;
