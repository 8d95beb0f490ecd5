-- description: firmware version on controllers and a history of firmware updates
--
-- Additive only: a nullable column without a default on an existing table, and
-- a new table whose index is built in the same transaction (it is empty).

SET lock_timeout = '2s';

-- Last firmware version the controller reported; NULL until it reports one.
ALTER TABLE controllers ADD COLUMN firmware_version text;

CREATE TABLE controller_firmware_updates (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    controller_id bigint NOT NULL REFERENCES controllers (id) ON DELETE CASCADE,
    from_version  text,
    to_version    text NOT NULL,
    -- sha256 of the firmware image that was flashed.
    image_sha256  text NOT NULL CHECK (image_sha256 ~ '^[0-9a-f]{64}$'),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    outcome       text CHECK (outcome IN ('succeeded', 'failed', 'rolled_back')),
    CONSTRAINT controller_firmware_updates_finished_after_start
        CHECK (finished_at IS NULL OR finished_at >= started_at),
    CONSTRAINT controller_firmware_updates_outcome_when_finished
        CHECK ((finished_at IS NULL) = (outcome IS NULL))
);

CREATE INDEX controller_firmware_updates_controller_started_idx
    ON controller_firmware_updates (controller_id, started_at DESC);
