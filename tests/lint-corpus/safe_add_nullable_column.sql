-- expect: none
-- expect-risk: additive
SET lock_timeout = '2s';
ALTER TABLE taps ADD COLUMN label_color text;
