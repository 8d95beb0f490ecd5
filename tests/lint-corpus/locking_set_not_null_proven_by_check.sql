-- expect: constraint-missing-not-valid@11 set-not-null@12 set-not-null@15
-- expect: constraint-missing-not-valid@17 set-not-null@18
-- expect: set-not-null@21 set-not-null@23
-- expect-risk: risky
-- A validated CHECK (col IS NOT NULL) lets PostgreSQL 12+ skip the scan of
-- SET NOT NULL: the finding is info then (lines 12 and 18), and the scan is
-- reported where the check was validated. Made and validated in one
-- revision, the ADD's lock is still held for that scan.
SET lock_timeout = '2s';
ALTER TABLE taps ADD CONSTRAINT taps_label_not_null CHECK (label IS NOT NULL) NOT VALID;
ALTER TABLE taps VALIDATE CONSTRAINT taps_label_not_null;
ALTER TABLE taps ALTER COLUMN label SET NOT NULL;
-- Not valid yet: the scan happens.
ALTER TABLE taps ADD CONSTRAINT taps_location_not_null CHECK (location IS NOT NULL) NOT VALID;
ALTER TABLE taps ALTER COLUMN location SET NOT NULL;
-- Validated as it is added.
ALTER TABLE kegs ADD CONSTRAINT kegs_tap_not_null CHECK (tap_id IS NOT NULL AND tap_id > 0);
ALTER TABLE kegs ALTER COLUMN tap_id SET NOT NULL;
-- `volume_ml > 0` rejects nulls too, but PostgreSQL does not take it as proof.
ALTER TABLE kegs ADD CONSTRAINT kegs_volume_positive CHECK (volume_ml > 0) NOT VALID;
ALTER TABLE kegs ALTER COLUMN volume_ml SET NOT NULL;
-- A check from an earlier revision is unknown: a corpus file is linted alone.
ALTER TABLE kegs ALTER COLUMN brewed_on SET NOT NULL;
-- Once the column is NOT NULL, the check that proved it guards nothing more:
-- dropping it is not a drop-constraint finding.
ALTER TABLE taps DROP CONSTRAINT taps_label_not_null;
