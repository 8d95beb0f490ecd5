-- expect: do-block@6
-- expect-risk: risky
-- A DO block's body is a string the linter does not read, so the block
-- itself is flagged and the revision counts as risky, whatever the body
-- does (here a DROP TABLE through EXECUTE).
DO $$
BEGIN
    EXECUTE 'DROP TABLE kegs';
END $$;
