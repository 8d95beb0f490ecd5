-- expect: disable-trigger@9 disable-trigger@10 partition-attach-detach@11
-- expect: replica-identity@12 drop-default@13
-- expect-risk: destructive
-- Switching a trigger off stops what it does for clients, and ALL stops
-- foreign key checks; NO INHERIT takes the child's rows out of the parent;
-- REPLICA IDENTITY locks the table; DROP EXPRESSION stops a generated
-- column being computed.
SET lock_timeout = '2s';
ALTER TABLE pour_records DISABLE TRIGGER ALL;
ALTER TABLE kegs DISABLE TRIGGER kegs_touch_updated_at;
ALTER TABLE pour_records_2019 NO INHERIT pour_records;
ALTER TABLE taps REPLICA IDENTITY FULL;
ALTER TABLE pour_records ALTER COLUMN volume_l DROP EXPRESSION;
ALTER TABLE kegs ENABLE TRIGGER kegs_touch_updated_at;
