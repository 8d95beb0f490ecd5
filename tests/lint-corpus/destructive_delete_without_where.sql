-- expect: delete-without-where@3
-- expect-risk: destructive
DELETE FROM controllers;
