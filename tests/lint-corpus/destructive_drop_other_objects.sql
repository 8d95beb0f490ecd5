-- expect: drop-object@7 drop-object@8 drop-object@9 drop-object@10
-- expect: drop-object@11 drop-object@12 drop-object@13
-- expect-risk: destructive
-- Every kind of DROP counts, not only tables, columns and types; DROP
-- OWNED BY drops every table the role owns. An object created earlier in
-- the revision may go again.
DROP COLLATION german_ci;
DROP OPERATOR === (int, int);
DROP AGGREGATE total_ml(int);
DROP SERVER legacy_erp CASCADE;
DROP PUBLICATION orders_cdc;
DROP TEXT SEARCH DICTIONARY menu_dict;
DROP OWNED BY legacy_app;
CREATE TEXT SEARCH CONFIGURATION menu (COPY = english);
DROP TEXT SEARCH CONFIGURATION menu;
