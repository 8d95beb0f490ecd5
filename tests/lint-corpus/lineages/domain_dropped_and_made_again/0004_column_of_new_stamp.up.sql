-- expect: none
-- expect-risk: additive
SET lock_timeout = '2s';
ALTER TABLE kegs ADD COLUMN emptied_at stamp;
