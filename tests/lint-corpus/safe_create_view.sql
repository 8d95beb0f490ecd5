-- expect: none
-- expect-risk: additive
CREATE VIEW active_kegs AS
    SELECT k.id, k.tap_id, k.remaining_ml
    FROM kegs k
    WHERE k.emptied_at IS NULL;
