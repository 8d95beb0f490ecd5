-- expect: none
-- expect-risk: additive
-- A DO block's body is a string: its statements are not linted.
DO $$
BEGIN
    EXECUTE 'DROP TABLE kegs';
END $$;
