-- A new table's checks are valid, even written NOT VALID.
-- expect: none
-- expect-risk: additive
CREATE TABLE kegs (
    id bigint PRIMARY KEY,
    tap_id int,
    CONSTRAINT tap_nn CHECK (tap_id IS NOT NULL) NOT VALID
);
