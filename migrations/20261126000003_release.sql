-- The release flow: approvals, per-environment controls (freeze, one-off
-- window), executions and the schema recorded on each target after its
-- current revision. Same SQL subset as the catalog (see 0001).

-- One row per decision. A newer decision of the same approver on the same
-- (revision, environment, action) revokes the older one; only rows with
-- revoked_at_ms and consumed_at_ms both NULL count, and only while their
-- checksum and policy hash match the revision and the loaded policy.
CREATE TABLE approvals (
    id                TEXT   PRIMARY KEY,
    project           TEXT   NOT NULL,
    revision_id       TEXT   NOT NULL,
    environment       TEXT   NOT NULL,
    action            TEXT   NOT NULL,
    kind              TEXT   NOT NULL,
    approver          TEXT   NOT NULL,
    approver_roles    TEXT   NOT NULL,
    revision_checksum TEXT   NOT NULL,
    policy_sha256     TEXT   NOT NULL,
    reason            TEXT   NOT NULL,
    comment           TEXT   NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    revoked_at_ms     BIGINT,
    consumed_at_ms    BIGINT
);

CREATE INDEX approvals_by_revision ON approvals (project, revision_id, environment);

CREATE TABLE environment_controls (
    environment          TEXT   PRIMARY KEY,
    frozen               BIGINT NOT NULL,
    freeze_reason        TEXT   NOT NULL,
    changed_by           TEXT   NOT NULL,
    changed_at_ms        BIGINT NOT NULL,
    window_expires_at_ms BIGINT,
    window_reason        TEXT   NOT NULL,
    window_opened_by     TEXT   NOT NULL
);

-- One row per revision run (apply, rollback or stamp) or refused.
CREATE TABLE executions (
    id             TEXT   PRIMARY KEY,
    project        TEXT   NOT NULL,
    environment    TEXT   NOT NULL,
    revision_id    TEXT   NOT NULL,
    action         TEXT   NOT NULL,
    state          TEXT   NOT NULL,
    started_at_ms  BIGINT NOT NULL,
    finished_at_ms BIGINT,
    statements_run BIGINT NOT NULL,
    error          TEXT   NOT NULL,
    executed_by    TEXT   NOT NULL,
    policy_sha256  TEXT   NOT NULL,
    backup_path    TEXT   NOT NULL,
    backup_sha256  TEXT   NOT NULL,
    backup_bytes   BIGINT NOT NULL,
    transactional  BIGINT NOT NULL,
    fingerprint    TEXT   NOT NULL
);

CREATE INDEX executions_by_environment ON executions (project, environment, started_at_ms);

-- The schema of each target right after its current revision ran or was
-- stamped: the reference of the drift check.
CREATE TABLE target_schemas (
    project        TEXT   NOT NULL,
    environment    TEXT   NOT NULL,
    revision_id    TEXT   NOT NULL,
    fingerprint    TEXT   NOT NULL,
    schema_json    TEXT   NOT NULL,
    recorded_at_ms BIGINT NOT NULL,
    PRIMARY KEY (project, environment)
);
