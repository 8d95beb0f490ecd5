-- Seed data for the bar example: two venues on a Friday and Saturday evening
-- in May 2025. Runs on the baseline schema alone (0001_baseline) and on every
-- later revision. Identity keys are never written: rows are found by their
-- natural keys (venue slug, keg serial number, controller device id).
--
--   psql -h 127.0.0.1 -U postgres -d bar -v ON_ERROR_STOP=1 -1 -f examples/bar/seed.sql

INSERT INTO venues (slug, name, time_zone, currency, created_at) VALUES
    ('zapfhahn-kreuzberg', 'Zapfhahn Kreuzberg', 'Europe/Berlin', 'EUR', '2024-11-02 10:00:00+01'),
    ('hafenbar-altona',    'Hafenbar Altona',    'Europe/Berlin', 'EUR', '2025-02-14 10:00:00+01');

INSERT INTO beverages (name, producer, style, abv) VALUES
    ('Kreuzberg Helles',  'Brauerei Spreeufer', 'Helles',                4.90),
    ('Spreeufer Dunkelweizen', 'Brauerei Spreeufer', 'Dunkelweizen',     5.30),
    ('Hopfenwerk IPA',    'Hopfenwerk',         'India Pale Ale',        6.50),
    ('Elbe Pils',         'Elbbrauerei',        'Pilsner',               4.80),
    ('Elbe Pils Alkoholfrei', 'Elbbrauerei',    'Non-alcoholic Pilsner', 0.40),
    ('Werder Apfelcidre', 'Obsthof Werder',     'Cider',                 5.50);

-- Kegs as they stood on Friday afternoon; the last statement books the seeded
-- pours against them. One spare keg per venue is still full, and one IPA keg
-- in Kreuzberg was emptied the week before.
INSERT INTO kegs (venue_id, beverage_id, serial_number, capacity_ml, remaining_ml,
                  status, received_at, tapped_at, emptied_at)
SELECT v.id, b.id, k.serial_number, k.capacity_ml, k.remaining_ml,
       k.status::keg_status, k.received_at, k.tapped_at, k.emptied_at
  FROM (VALUES
    ('zapfhahn-kreuzberg', 'Brauerei Spreeufer', 'Kreuzberg Helles',       'SPU-50-10417', 50000.00, 31250.00, 'tapped', timestamptz '2025-05-12 09:30:00+02', timestamptz '2025-05-14 16:45:00+02', NULL::timestamptz),
    ('zapfhahn-kreuzberg', 'Hopfenwerk',         'Hopfenwerk IPA',         'HW-30-2231',   30000.00, 22400.00, 'tapped', '2025-05-12 09:30:00+02', '2025-05-15 17:10:00+02', NULL),
    ('zapfhahn-kreuzberg', 'Brauerei Spreeufer', 'Spreeufer Dunkelweizen', 'SPU-30-08812', 30000.00, 12800.00, 'tapped', '2025-05-05 09:15:00+02', '2025-05-09 16:20:00+02', NULL),
    ('zapfhahn-kreuzberg', 'Obsthof Werder',     'Werder Apfelcidre',      'OW-20-0577',   20000.00, 16500.00, 'tapped', '2025-05-12 09:30:00+02', '2025-05-13 18:00:00+02', NULL),
    ('zapfhahn-kreuzberg', 'Brauerei Spreeufer', 'Kreuzberg Helles',       'SPU-50-10418', 50000.00, 50000.00, 'full',   '2025-05-12 09:30:00+02', NULL, NULL),
    ('zapfhahn-kreuzberg', 'Hopfenwerk',         'Hopfenwerk IPA',         'HW-30-2187',   30000.00,     0.00, 'empty',  '2025-05-02 09:00:00+02', '2025-05-06 17:05:00+02', '2025-05-15 16:55:00+02'),
    ('hafenbar-altona',    'Elbbrauerei',        'Elbe Pils',              'ELB-50-3390',  50000.00, 41800.00, 'tapped', '2025-05-13 08:45:00+02', '2025-05-15 15:30:00+02', NULL),
    ('hafenbar-altona',    'Hopfenwerk',         'Hopfenwerk IPA',         'HW-30-2240',   30000.00, 27150.00, 'tapped', '2025-05-13 08:45:00+02', '2025-05-15 15:40:00+02', NULL),
    ('hafenbar-altona',    'Elbbrauerei',        'Elbe Pils Alkoholfrei',  'ELB-20-0961',  20000.00,  9300.00, 'tapped', '2025-04-29 08:30:00+02', '2025-05-01 15:00:00+02', NULL),
    ('hafenbar-altona',    'Elbbrauerei',        'Elbe Pils',              'ELB-50-3391',  50000.00, 50000.00, 'full',   '2025-05-13 08:45:00+02', NULL, NULL)
  ) AS k(venue_slug, producer, beverage, serial_number, capacity_ml, remaining_ml,
         status, received_at, tapped_at, emptied_at)
  JOIN venues v ON v.slug = k.venue_slug
  JOIN beverages b ON b.producer = k.producer AND b.name = k.beverage;

INSERT INTO taps (venue_id, tap_number, label, keg_id, price_per_litre)
SELECT v.id, t.tap_number, t.label, k.id, t.price_per_litre
  FROM (VALUES
    ('zapfhahn-kreuzberg', 1, 'Helles',       'SPU-50-10417',  9.80),
    ('zapfhahn-kreuzberg', 2, 'IPA',          'HW-30-2231',   14.50),
    ('zapfhahn-kreuzberg', 3, 'Dunkelweizen', 'SPU-30-08812', 11.40),
    ('zapfhahn-kreuzberg', 4, 'Cidre',        'OW-20-0577',   12.00),
    ('hafenbar-altona',    1, 'Pils',         'ELB-50-3390',   9.60),
    ('hafenbar-altona',    2, 'IPA',          'HW-30-2240',   14.90),
    ('hafenbar-altona',    3, 'Pils 0,4 %',   'ELB-20-0961',   8.20)
  ) AS t(venue_slug, tap_number, label, keg_serial, price_per_litre)
  JOIN venues v ON v.slug = t.venue_slug
  JOIN kegs k ON k.venue_id = v.id AND k.serial_number = t.keg_serial;

INSERT INTO controllers (device_id, tap_id, hardware_model, installed_at, last_seen_at)
SELECT c.device_id, t.id, c.hardware_model, c.installed_at, c.last_seen_at
  FROM (VALUES
    ('bar1-tap1', 'zapfhahn-kreuzberg', 1, 'tapd-flowmeter-v2', timestamptz '2024-11-02 12:00:00+01', timestamptz '2025-05-17 23:35:00+02'),
    ('bar1-tap2', 'zapfhahn-kreuzberg', 2, 'tapd-flowmeter-v2', '2024-11-02 12:00:00+01', '2025-05-17 23:35:00+02'),
    ('bar1-tap3', 'zapfhahn-kreuzberg', 3, 'tapd-flowmeter-v2', '2024-11-02 12:00:00+01', '2025-05-17 23:35:00+02'),
    ('bar1-tap4', 'zapfhahn-kreuzberg', 4, 'tapd-flowmeter-v3', '2025-03-20 11:00:00+01', '2025-05-17 23:35:00+02'),
    ('bar2-tap1', 'hafenbar-altona',    1, 'tapd-flowmeter-v3', '2025-02-14 12:00:00+01', '2025-05-17 23:40:00+02'),
    ('bar2-tap2', 'hafenbar-altona',    2, 'tapd-flowmeter-v3', '2025-02-14 12:00:00+01', '2025-05-17 23:40:00+02'),
    ('bar2-tap3', 'hafenbar-altona',    3, 'tapd-flowmeter-v3', '2025-02-14 12:00:00+01', '2025-05-17 23:40:00+02')
  ) AS c(device_id, venue_slug, tap_number, hardware_model, installed_at, last_seen_at)
  JOIN venues v ON v.slug = c.venue_slug
  JOIN taps t ON t.venue_id = v.id AND t.tap_number = c.tap_number;

-- Pours as the controllers synced them: journal sequence, metered volume and
-- time. Each is charged at its tap's price, rounded to the cent, and booked
-- against the keg on that tap.
INSERT INTO pour_records (tap_id, keg_id, controller_id, journal_seq, volume_ml,
                          price_per_litre, amount_charged, poured_at, received_at)
SELECT t.id, t.keg_id, c.id, p.journal_seq, p.volume_ml,
       t.price_per_litre, round(p.volume_ml * t.price_per_litre / 1000, 2),
       p.poured_at, p.poured_at + interval '4 seconds'
  FROM (VALUES
    ('bar2-tap3', 134, 501.68, timestamptz '2025-05-16 17:39:58+02'),
    ('bar1-tap2', 643, 307.11, '2025-05-16 17:42:23+02'),
    ('bar1-tap2', 644, 200.40, '2025-05-16 18:23:00+02'),
    ('bar1-tap4', 208, 400.04, '2025-05-16 18:39:35+02'),
    ('bar1-tap2', 645, 298.20, '2025-05-16 19:06:01+02'),
    ('bar2-tap1', 2292, 299.38, '2025-05-16 19:27:25+02'),
    ('bar1-tap4', 209, 258.84, '2025-05-16 19:31:44+02'),
    ('bar1-tap1', 1184, 495.93, '2025-05-16 19:36:58+02'),
    ('bar2-tap2', 871, 207.33, '2025-05-16 19:49:05+02'),
    ('bar2-tap2', 872, 56.48, '2025-05-16 20:23:22+02'),
    ('bar1-tap2', 646, 302.54, '2025-05-16 21:07:29+02'),
    ('bar1-tap2', 647, 302.94, '2025-05-16 21:30:23+02'),
    ('bar1-tap1', 1185, 495.41, '2025-05-16 21:31:09+02'),
    ('bar2-tap1', 2293, 291.40, '2025-05-16 21:31:15+02'),
    ('bar2-tap3', 135, 295.33, '2025-05-16 21:41:31+02'),
    ('bar1-tap3', 416, 501.28, '2025-05-16 21:51:57+02'),
    ('bar2-tap1', 2294, 500.60, '2025-05-16 22:33:38+02'),
    ('bar2-tap3', 136, 495.04, '2025-05-16 22:59:38+02'),
    ('bar2-tap2', 873, 295.28, '2025-05-16 23:05:10+02'),
    ('bar2-tap1', 2295, 304.76, '2025-05-16 23:11:35+02'),
    ('bar1-tap2', 648, 294.12, '2025-05-16 23:21:44+02'),
    ('bar1-tap3', 417, 506.99, '2025-05-16 23:25:47+02'),
    ('bar1-tap1', 1186, 392.88, '2025-05-17 16:44:46+02'),
    ('bar1-tap1', 1187, 508.25, '2025-05-17 16:45:02+02'),
    ('bar1-tap1', 1188, 494.20, '2025-05-17 16:58:42+02'),
    ('bar1-tap4', 210, 298.26, '2025-05-17 17:16:22+02'),
    ('bar2-tap1', 2296, 399.28, '2025-05-17 17:25:24+02'),
    ('bar1-tap1', 1189, 502.01, '2025-05-17 17:25:47+02'),
    ('bar2-tap3', 137, 507.58, '2025-05-17 17:48:42+02'),
    ('bar2-tap1', 2297, 507.57, '2025-05-17 18:16:34+02'),
    ('bar1-tap1', 1190, 295.56, '2025-05-17 18:18:51+02'),
    ('bar2-tap2', 874, 42.23, '2025-05-17 18:19:10+02'),
    ('bar1-tap3', 418, 498.88, '2025-05-17 18:24:00+02'),
    ('bar2-tap2', 875, 201.98, '2025-05-17 19:02:35+02'),
    ('bar2-tap2', 876, 404.74, '2025-05-17 19:31:35+02'),
    ('bar1-tap4', 211, 403.73, '2025-05-17 19:38:01+02'),
    ('bar2-tap1', 2298, 401.25, '2025-05-17 19:39:43+02'),
    ('bar2-tap2', 877, 198.05, '2025-05-17 20:52:58+02'),
    ('bar2-tap1', 2299, 506.68, '2025-05-17 20:53:35+02'),
    ('bar1-tap1', 1191, 304.95, '2025-05-17 20:56:33+02'),
    ('bar1-tap1', 1192, 396.36, '2025-05-17 21:13:06+02'),
    ('bar2-tap1', 2300, 392.94, '2025-05-17 21:18:29+02'),
    ('bar1-tap2', 649, 293.73, '2025-05-17 21:20:51+02'),
    ('bar1-tap3', 419, 306.73, '2025-05-17 22:04:00+02'),
    ('bar1-tap3', 420, 493.51, '2025-05-17 22:05:21+02'),
    ('bar1-tap1', 1193, 496.03, '2025-05-17 22:21:14+02'),
    ('bar2-tap1', 2301, 304.08, '2025-05-17 22:41:41+02'),
    ('bar2-tap1', 2302, 497.90, '2025-05-17 22:47:57+02')
  ) AS p(device_id, journal_seq, volume_ml, poured_at)
  JOIN controllers c ON c.device_id = p.device_id
  JOIN taps t ON t.id = c.tap_id;

-- Book the seeded pours against the kegs they came from.
UPDATE kegs k
   SET remaining_ml = k.remaining_ml - used.volume_ml
  FROM (SELECT keg_id, sum(volume_ml) AS volume_ml FROM pour_records GROUP BY keg_id) AS used
 WHERE k.id = used.keg_id;
