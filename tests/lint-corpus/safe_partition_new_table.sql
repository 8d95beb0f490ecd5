-- expect: none
-- expect-risk: additive
CREATE TABLE pour_archive (
    id bigint NOT NULL,
    poured_at timestamptz NOT NULL,
    amount numeric(12, 2) NOT NULL
) PARTITION BY RANGE (poured_at);
CREATE TABLE pour_archive_2024 PARTITION OF pour_archive
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
