-- expect: constraint-missing-not-valid@4
-- expect-risk: risky
SET lock_timeout = '2s';
ALTER TABLE kegs ADD CONSTRAINT kegs_volume_sane CHECK (volume_ml < 100000);
