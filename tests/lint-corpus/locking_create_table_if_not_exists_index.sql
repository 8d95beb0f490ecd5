-- expect: create-index-non-concurrently@6 missing-lock-timeout@6
-- expect-risk: risky
-- IF NOT EXISTS means the table may already exist with data: the index is
-- treated as built on an existing table.
CREATE TABLE IF NOT EXISTS venues (id uuid PRIMARY KEY);
CREATE INDEX venues_id_idx ON venues (id);
