-- Undoes the baseline: drops every object it created, dependents first.
DROP VIEW daily_revenue;
DROP TABLE pour_records;
DROP TABLE controllers;
DROP TABLE taps;
DROP TABLE kegs;
DROP TABLE beverages;
DROP TABLE venues;
DROP TYPE keg_status;
