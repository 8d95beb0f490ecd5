-- expect: none
-- expect-risk: additive
-- The foreign key locks the existing `taps` against writes while its
-- triggers are added: a lock_timeout bounds that wait.
SET lock_timeout = '2s';
CREATE TABLE tap_cleanings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tap_id uuid NOT NULL,
    cleaned_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tap_cleanings_tap_idx ON tap_cleanings (tap_id);
ALTER TABLE tap_cleanings ADD CONSTRAINT tap_cleanings_tap_fk FOREIGN KEY (tap_id) REFERENCES taps (id);
ALTER TABLE tap_cleanings ADD COLUMN operator text NOT NULL;
ALTER TABLE tap_cleanings ALTER COLUMN operator SET NOT NULL;
ALTER TABLE tap_cleanings ADD COLUMN token uuid DEFAULT gen_random_uuid();
