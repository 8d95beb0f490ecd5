-- expect: rename-object@9 rename-object@10
-- expect-risk: destructive
-- Only a name created earlier in the revision, as written, is new:
-- `public.tier` may be an older type than the new `tier`, and a sequence
-- renamed before it is created is an older one.
SET lock_timeout = '2s';
CREATE TYPE tier AS ENUM ('bronze');
ALTER TYPE tier RENAME VALUE 'bronze' TO 'gold';
ALTER TYPE public.tier RENAME TO level;
ALTER SEQUENCE card_no RENAME TO card_number;
CREATE SEQUENCE card_no;
