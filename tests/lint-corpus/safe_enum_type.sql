-- expect: none
-- expect-risk: additive
CREATE TYPE keg_state AS ENUM ('full', 'tapped', 'empty');
ALTER TYPE keg_state ADD VALUE IF NOT EXISTS 'returned';
