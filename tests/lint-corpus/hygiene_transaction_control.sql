-- expect: transaction-control@5 transaction-control@8
-- expect-risk: additive
-- A hand-written wrapper: the revision already runs in one transaction.
SET lock_timeout = '2s';
BEGIN;
CREATE TABLE pour_notes (id bigint PRIMARY KEY, note text);
SAVEPOINT before_backfill;
COMMIT;
