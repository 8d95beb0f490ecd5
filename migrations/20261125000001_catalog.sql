-- The catalog's own schema. Written in the SQL subset that SQLite and
-- PostgreSQL share, so one migration set serves both backends: ids are
-- assigned by the server, times are unix milliseconds, flags are 0/1 integers.

-- One lineage per project: (project, parent_id) is unique, so two children of
-- one parent (a fork) cannot exist even if two submits race. The baseline has
-- parent_id '' so a project has at most one baseline too.
CREATE TABLE revisions (
    project       TEXT   NOT NULL,
    id            TEXT   NOT NULL,
    parent_id     TEXT   NOT NULL,
    sequence      BIGINT NOT NULL,
    up_sql        TEXT   NOT NULL,
    down_sql      TEXT   NOT NULL,
    description   TEXT   NOT NULL,
    author        TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    checksum      TEXT   NOT NULL,
    risk          TEXT   NOT NULL,
    lint_json     TEXT   NOT NULL,
    PRIMARY KEY (project, id),
    UNIQUE (project, parent_id),
    UNIQUE (project, sequence)
);

-- Append-only and hash-chained: sha256 covers the row and prev_sha256.
CREATE TABLE audit_log (
    id          BIGINT PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    project     TEXT   NOT NULL,
    environment TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    outcome     TEXT   NOT NULL,
    detail      TEXT   NOT NULL,
    prev_sha256 TEXT   NOT NULL,
    sha256      TEXT   NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at_ms);
