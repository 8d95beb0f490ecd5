-- expect: none
-- expect-risk: additive
UPDATE controllers SET firmware = '1.4.2' WHERE firmware = '1.4.1';
DELETE FROM kegs WHERE emptied_at < now() - interval '2 years';
