-- The catalog stamp of a target's schema reference: when the live stamp
-- still equals it, the drift check needs no introspection. Empty for
-- references recorded before stamps existed (they are compared in full).
ALTER TABLE target_schemas ADD COLUMN catalog_stamp TEXT NOT NULL DEFAULT '';
