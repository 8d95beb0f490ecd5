-- expect: cluster@4
-- expect-risk: risky
SET lock_timeout = '2s';
CLUSTER pour_records USING pour_records_poured_at_idx;
