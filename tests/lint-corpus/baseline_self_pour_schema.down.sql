DROP VIEW venue_revenue;
DROP TRIGGER pour_records_apply ON pour_records;
DROP FUNCTION apply_pour();
DROP TABLE pour_records, kegs, taps, controllers, beverages, venues;
