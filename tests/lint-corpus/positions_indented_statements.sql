-- expect: drop-table@7:5 truncate-table@9:11 missing-lock-timeout@7:5
-- expect-risk: destructive
/* a block comment
   spanning lines; with a semicolon */

    -- a comment line before an indented statement
    DROP TABLE old_kegs;   CREATE TABLE fresh (id int);
/* inline */
  /* x */ TRUNCATE old_taps;
