-- expect: constraint-missing-not-valid@4
-- expect-risk: risky
SET lock_timeout = '2s';
ALTER TABLE pour_records ADD CONSTRAINT pour_records_keg_fk FOREIGN KEY (keg_id) REFERENCES kegs (id);
