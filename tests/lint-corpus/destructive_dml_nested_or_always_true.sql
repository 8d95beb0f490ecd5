-- expect: delete-without-where@8 update-without-where@9 delete-without-where@10
-- expect: delete-without-where@11 delete-without-where@12 update-without-where@13
-- expect: delete-without-where@14
-- expect-risk: destructive
-- A WHERE that is always true filters nothing, and a DELETE or UPDATE runs
-- wherever the statement holds it: EXPLAIN ANALYZE, COPY (...) TO, a CTE
-- inside CREATE TABLE AS, PREPARE, or a MERGE matching every row.
DELETE FROM sessions WHERE 1 = 1;
UPDATE customers SET marketing_opt_in = false WHERE 'a' = 'a';
EXPLAIN ANALYZE DELETE FROM sessions;
COPY (DELETE FROM sessions RETURNING *) TO STDOUT;
CREATE TABLE sessions_archive AS WITH d AS (DELETE FROM sessions RETURNING *) SELECT * FROM d;
PREPARE opt_out AS UPDATE customers SET marketing_opt_in = false;
MERGE INTO sessions s USING (SELECT 1) x ON true WHEN MATCHED THEN DELETE;
DELETE FROM sessions WHERE ended_at < now() - interval '90 days';
EXPLAIN DELETE FROM sessions WHERE id = 1;
