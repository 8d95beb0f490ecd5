-- expect: add-column-volatile-default@8 add-column-volatile-default@11
-- expect: add-column-volatile-default@14:5
-- expect-risk: risky
-- PostgreSQL checks a domain's CHECK or NOT NULL constraints on every row a
-- new column of the domain gets, rewriting the table, whatever the default.
SET lock_timeout = '2s';
CREATE DOMAIN positive_ml AS integer CHECK (VALUE > 0);
ALTER TABLE kegs ADD COLUMN capacity_ml positive_ml DEFAULT 50000;
CREATE DOMAIN tap_label AS text;
ALTER DOMAIN tap_label ADD CONSTRAINT tap_label_not_blank CHECK (VALUE <> '') NOT VALID;
ALTER TABLE taps ADD COLUMN display_label tap_label DEFAULT 'tap';
CREATE DOMAIN keg_volume_ml AS positive_ml;
ALTER TABLE kegs
    ADD COLUMN remaining_ml keg_volume_ml DEFAULT 1;
-- Without a constraint, or as an array, the domain checks no existing row.
CREATE DOMAIN keg_note AS text;
ALTER TABLE kegs ADD COLUMN note keg_note;
ALTER TABLE kegs ADD COLUMN refills_ml positive_ml[];
-- A domain this revision does not define is unknown to the linter.
ALTER TABLE kegs ADD COLUMN price_cents money_cents;
