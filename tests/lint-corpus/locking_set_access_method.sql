-- expect: set-access-method@4
-- expect-risk: risky
SET lock_timeout = '2s';
ALTER TABLE pour_records SET ACCESS METHOD heap2;
CREATE TABLE pour_records_archive (LIKE pour_records);
ALTER TABLE pour_records_archive SET ACCESS METHOD heap2;
