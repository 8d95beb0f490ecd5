-- expect: lock-table@4
-- expect-risk: risky
SET lock_timeout = '2s';
LOCK TABLE kegs IN SHARE ROW EXCLUSIVE MODE;
