-- description: baseline: venues, beverages, kegs, taps, edge controllers and pour records
--
-- The backend of a self-pour bar. Guests pour their own drinks; the edge
-- controller at each tap meters every pour into its local journal and syncs it
-- here, where it becomes a pour record that is charged to the guest.
--
-- Money is numeric(10,2) in the venue's currency, volumes are numeric(8,2)
-- millilitres. The pour record table is `pour_records`, not `pours`: `pours`
-- is the controllers' own SQLite journal table, and the linter keeps backend
-- migrations away from that name.

CREATE TYPE keg_status AS ENUM ('full', 'tapped', 'empty');

CREATE TABLE venues (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name        text NOT NULL,
    -- IANA zone the venue's business day is counted in.
    time_zone   text NOT NULL DEFAULT 'Europe/Berlin',
    currency    char(3) NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE beverages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    producer    text NOT NULL,
    style       text,
    -- Alcohol by volume, in percent.
    abv         numeric(4,2) NOT NULL CHECK (abv BETWEEN 0 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT beverages_producer_name_key UNIQUE (producer, name)
);

CREATE TABLE kegs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    venue_id      bigint NOT NULL REFERENCES venues (id) ON DELETE RESTRICT,
    beverage_id   bigint NOT NULL REFERENCES beverages (id) ON DELETE RESTRICT,
    -- The number printed on the keg by the brewery.
    serial_number text NOT NULL,
    capacity_ml   numeric(8,2) NOT NULL CHECK (capacity_ml > 0),
    remaining_ml  numeric(8,2) NOT NULL CHECK (remaining_ml >= 0),
    status        keg_status NOT NULL DEFAULT 'full',
    received_at   timestamptz NOT NULL DEFAULT now(),
    tapped_at     timestamptz,
    emptied_at    timestamptz,
    CONSTRAINT kegs_venue_serial_key UNIQUE (venue_id, serial_number),
    CONSTRAINT kegs_remaining_le_capacity CHECK (remaining_ml <= capacity_ml),
    CONSTRAINT kegs_tapped_has_time CHECK (status = 'full' OR tapped_at IS NOT NULL),
    CONSTRAINT kegs_empty_has_time CHECK (status <> 'empty' OR emptied_at IS NOT NULL)
);

CREATE INDEX kegs_beverage_id_idx ON kegs (beverage_id);
CREATE INDEX kegs_venue_status_idx ON kegs (venue_id, status);

CREATE TABLE taps (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    venue_id        bigint NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    tap_number      integer NOT NULL CHECK (tap_number > 0),
    label           text,
    -- The keg connected to this tap; a keg hangs on one tap at most.
    keg_id          bigint UNIQUE REFERENCES kegs (id) ON DELETE SET NULL,
    -- What a guest pays, in the venue's currency.
    price_per_litre numeric(10,2) NOT NULL CHECK (price_per_litre >= 0),
    active          boolean NOT NULL DEFAULT true,
    CONSTRAINT taps_venue_number_key UNIQUE (venue_id, tap_number)
);

CREATE TABLE controllers (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The id the controller reports with (sg-agent, journal sync), e.g. bar1-tap1.
    device_id      text NOT NULL UNIQUE
                   CHECK (device_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    -- The tap it meters; a tap has one controller at most.
    tap_id         bigint UNIQUE REFERENCES taps (id) ON DELETE SET NULL,
    hardware_model text NOT NULL,
    installed_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz
);

CREATE TABLE pour_records (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tap_id          bigint NOT NULL REFERENCES taps (id) ON DELETE RESTRICT,
    keg_id          bigint NOT NULL REFERENCES kegs (id) ON DELETE RESTRICT,
    controller_id   bigint NOT NULL REFERENCES controllers (id) ON DELETE RESTRICT,
    -- The pour's id in the controller's journal: syncing twice cannot double-charge.
    journal_seq     bigint NOT NULL CHECK (journal_seq > 0),
    volume_ml       numeric(8,2) NOT NULL CHECK (volume_ml > 0),
    -- The tap's price when the pour happened, and what was charged for it.
    price_per_litre numeric(10,2) NOT NULL CHECK (price_per_litre >= 0),
    amount_charged  numeric(10,2) NOT NULL CHECK (amount_charged >= 0),
    poured_at       timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pour_records_controller_seq_key UNIQUE (controller_id, journal_seq)
);

CREATE INDEX pour_records_tap_poured_at_idx ON pour_records (tap_id, poured_at);
CREATE INDEX pour_records_keg_id_idx ON pour_records (keg_id);
CREATE INDEX pour_records_poured_at_brin ON pour_records USING brin (poured_at);

-- Revenue per venue and business day (in the venue's time zone).
CREATE VIEW daily_revenue AS
SELECT v.id                                     AS venue_id,
       v.name                                   AS venue_name,
       (p.poured_at AT TIME ZONE v.time_zone)::date AS business_day,
       v.currency                               AS currency,
       count(*)                                 AS pour_count,
       sum(p.volume_ml)                         AS volume_ml,
       sum(p.amount_charged)                    AS revenue
  FROM pour_records p
  JOIN taps t ON t.id = p.tap_id
  JOIN venues v ON v.id = t.venue_id
 GROUP BY v.id, v.name, (p.poured_at AT TIME ZONE v.time_zone)::date, v.currency;
