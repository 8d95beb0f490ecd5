-- expect: add-column-volatile-default@6 create-index-non-concurrently@7 constraint-missing-not-valid@9 drop-column@10 missing-lock-timeout@6
-- expect-risk: destructive
-- Release 4.2: several changes in one revision (the kind review should split).

CREATE TABLE tap_events (id bigint PRIMARY KEY, tap_id uuid NOT NULL, kind text NOT NULL);
ALTER TABLE taps ADD COLUMN uid uuid DEFAULT gen_random_uuid();
CREATE INDEX taps_uid_idx ON taps (uid);
ALTER TABLE tap_events ADD CONSTRAINT tap_events_tap_fk FOREIGN KEY (tap_id) REFERENCES taps (id), ADD CONSTRAINT x CHECK (kind <> ''), ADD FOREIGN KEY (id) REFERENCES kegs (x);
ALTER TABLE kegs ADD CONSTRAINT kegs_tap_fk2 FOREIGN KEY (tap_id) REFERENCES taps (id);
ALTER TABLE kegs DROP COLUMN deposit;
