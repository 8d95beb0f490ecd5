-- expect: create-index-non-concurrently@4
-- expect-risk: risky
SET lock_timeout = '2s';
CREATE INDEX pour_records_received_idx ON pour_records (received_at);
