-- description: pour tags (happy hour, staff, comp, ...) and a free-text staff note on pour records
--
-- Additive only: a new table, and a nullable column without a default on an
-- existing table (a catalog-only change, no rewrite).

SET lock_timeout = '2s';

ALTER TABLE pour_records ADD COLUMN staff_note text;

CREATE TABLE pour_tags (
    pour_record_id bigint NOT NULL REFERENCES pour_records (id) ON DELETE CASCADE,
    tag            text NOT NULL CHECK (tag ~ '^[a-z][a-z0-9_]{0,31}$'),
    tagged_by      text,
    tagged_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pour_record_id, tag)
);

-- Built inside the transaction: the table is new and empty, nothing waits on it.
CREATE INDEX pour_tags_tag_idx ON pour_tags (tag);
