-- expect: none
-- expect-risk: additive
-- Baseline of the self-pour bar backend: every table is new in this
-- revision, so plain CREATE INDEX and validated foreign keys are fine.
SET lock_timeout = '5s';
SET statement_timeout = '60s';

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE venues (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'Europe/Brussels',
    currency    char(3) NOT NULL DEFAULT 'EUR',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT venues_name_uniq UNIQUE (name)
);

CREATE TABLE beverages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    style         text,
    abv_percent   numeric(4, 2) NOT NULL CHECK (abv_percent >= 0 AND abv_percent <= 100),
    price_per_cl  numeric(10, 4) NOT NULL CHECK (price_per_cl >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE controllers (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    venue_id      uuid NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    serial_number text NOT NULL UNIQUE,
    firmware      text NOT NULL DEFAULT '0.0.0',
    last_seen_at  timestamptz
);

CREATE TABLE taps (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    venue_id       uuid NOT NULL REFERENCES venues (id),
    controller_id  uuid NOT NULL,
    position       smallint NOT NULL CHECK (position > 0),
    label          text,
    UNIQUE (controller_id, position)
);
ALTER TABLE taps
    ADD CONSTRAINT taps_controller_fk FOREIGN KEY (controller_id) REFERENCES controllers (id);

CREATE TABLE kegs (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    beverage_id    bigint NOT NULL REFERENCES beverages (id),
    tap_id         uuid REFERENCES taps (id),
    volume_ml      numeric(10, 1) NOT NULL CHECK (volume_ml > 0),
    remaining_ml   numeric(10, 1) NOT NULL,
    tapped_at      timestamptz,
    emptied_at     timestamptz,
    CONSTRAINT kegs_remaining_ok CHECK (remaining_ml >= 0 AND remaining_ml <= volume_ml)
);

CREATE TABLE pour_records (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tap_id          uuid NOT NULL REFERENCES taps (id),
    keg_id          uuid NOT NULL REFERENCES kegs (id),
    controller_seq  bigint NOT NULL,
    volume_ml       numeric(8, 1) NOT NULL CHECK (volume_ml > 0),
    amount          numeric(12, 2) NOT NULL,
    currency        char(3) NOT NULL,
    poured_at       timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tap_id, controller_seq)
);

CREATE INDEX pour_records_poured_at_idx ON pour_records (poured_at);
CREATE INDEX pour_records_keg_idx ON pour_records (keg_id);
CREATE INDEX kegs_tap_idx ON kegs (tap_id) WHERE emptied_at IS NULL;
CREATE INDEX controllers_venue_idx ON controllers (venue_id);

-- Keeps the keg level in step with pours; the body is PL/pgSQL text, so the
-- words inside it are not statements of this migration.
CREATE FUNCTION apply_pour() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE kegs SET remaining_ml = remaining_ml - NEW.volume_ml WHERE id = NEW.keg_id;
    RETURN NEW;
END;
$$;

CREATE TRIGGER pour_records_apply AFTER INSERT ON pour_records
    FOR EACH ROW EXECUTE FUNCTION apply_pour();

CREATE VIEW venue_revenue AS
    SELECT t.venue_id, date_trunc('day', p.poured_at) AS day, sum(p.amount) AS revenue
    FROM pour_records p JOIN taps t ON t.id = p.tap_id
    GROUP BY 1, 2;

COMMENT ON TABLE pour_records IS 'One row per pour, as reported by the tap controllers';
