SET lock_timeout = '2s';

DROP TABLE pour_tags;
ALTER TABLE pour_records DROP COLUMN staff_note;
