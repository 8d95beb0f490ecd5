-- The fleet view: the latest journal report of each edge controller and a
-- bounded history. Reports are kept as hex-encoded protobuf so one column
-- type works on SQLite and PostgreSQL alike.
CREATE TABLE controllers (
    controller_id     TEXT   PRIMARY KEY,
    last_report_at_ms BIGINT NOT NULL,
    report_count      BIGINT NOT NULL,
    -- sha256 over the sorted (table, DDL hash) pairs: equal journals, equal signatures.
    schema_signature  TEXT   NOT NULL,
    report_hex        TEXT   NOT NULL
);

CREATE TABLE journal_reports (
    controller_id  TEXT   NOT NULL,
    seq            BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    report_hex     TEXT   NOT NULL,
    PRIMARY KEY (controller_id, seq)
);
