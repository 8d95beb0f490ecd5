-- expect: delete-without-where@7 update-without-where@9
-- expect-risk: destructive
-- `WHEN NOT MATCHED BY SOURCE` (PostgreSQL 17+) reaches every target row the
-- source does not name, all of them if the source is empty: unconditional,
-- it is a DELETE or UPDATE without WHERE for those rows.
SET lock_timeout = '2s';
MERGE INTO taps t USING tap_feed f ON t.id = f.id
    WHEN NOT MATCHED BY SOURCE THEN DELETE;
MERGE INTO kegs k USING keg_feed f ON k.id = f.id
    WHEN MATCHED THEN UPDATE SET volume_ml = f.volume_ml
    WHEN NOT MATCHED BY SOURCE THEN UPDATE SET retired = true;
-- With a condition, only the rows it names.
MERGE INTO kegs k USING keg_feed f ON k.id = f.id
    WHEN NOT MATCHED BY SOURCE AND k.emptied_at < now() - interval '1 year' THEN DELETE;
