-- expect: transaction-control@5 non-transactional-statement@6 transaction-control@7
-- expect-risk: additive
-- expect-transactional: false
SET lock_timeout = '2s';
BEGIN;
CREATE INDEX CONCURRENTLY kegs_lot_code_idx ON kegs (lot_code);
COMMIT;
