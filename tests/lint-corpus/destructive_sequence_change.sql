-- expect: sequence-change@9 sequence-change@10 sequence-change@11
-- expect: sequence-change@12 sequence-change@13 sequence-change@14
-- expect: drop-default@15 drop-default@16
-- expect-risk: destructive
-- A sequence moved back or narrowed hands out keys already in use or
-- stops inserts; so do identity changes. SET DEFAULT NULL is a dropped
-- default. A sequence made in the revision may be set as needed.
SET lock_timeout = '2s';
ALTER SEQUENCE pour_records_id_seq RESTART;
ALTER SEQUENCE kegs_id_seq AS smallint;
SELECT setval('taps_id_seq', 1);
ALTER TABLE pour_records ALTER COLUMN id RESTART WITH 1;
ALTER TABLE kegs ALTER COLUMN id SET GENERATED ALWAYS;
ALTER TABLE taps ALTER COLUMN id DROP IDENTITY;
ALTER TABLE kegs ALTER COLUMN status SET DEFAULT NULL;
ALTER TABLE pour_records ALTER COLUMN volume_l DROP EXPRESSION;
CREATE SEQUENCE invoice_number_seq;
SELECT setval('invoice_number_seq', 1000);
ALTER SEQUENCE kegs_id_seq AS bigint;
