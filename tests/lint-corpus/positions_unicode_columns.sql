-- expect: drop-table@3:35
-- expect-risk: destructive
SET lock_timeout='1s'; /* café */ DROP TABLE "vieux_fûts";
