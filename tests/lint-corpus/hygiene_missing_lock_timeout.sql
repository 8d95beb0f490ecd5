-- expect: missing-lock-timeout@4
-- expect-risk: additive
CREATE TABLE notes (id int);
ALTER TABLE taps ADD COLUMN note_id int;
ALTER TABLE kegs ADD COLUMN note_id int;
