-- expect: none
-- expect-risk: additive
-- Nothing to do in this revision; kept for numbering.
/* block comment; with a semicolon */
