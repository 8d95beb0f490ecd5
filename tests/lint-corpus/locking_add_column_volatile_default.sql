-- expect: add-column-volatile-default@4 add-column-volatile-default@5 add-column-volatile-default@6 add-column-volatile-default@7
-- expect-risk: risky
SET lock_timeout = '2s';
ALTER TABLE pour_records ADD COLUMN sample double precision DEFAULT random();
ALTER TABLE pour_records ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE pour_records ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp();
ALTER TABLE pour_records ADD COLUMN seq bigint DEFAULT nextval('pour_seq');
