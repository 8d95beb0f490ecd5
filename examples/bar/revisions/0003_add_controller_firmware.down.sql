SET lock_timeout = '2s';

DROP TABLE controller_firmware_updates;
ALTER TABLE controllers DROP COLUMN firmware_version;
