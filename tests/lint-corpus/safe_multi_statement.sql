-- expect: none
-- expect-risk: additive
SET lock_timeout = '3s';
CREATE TABLE promotions (id int PRIMARY KEY, venue_id uuid NOT NULL, pct numeric(5, 2) NOT NULL);
ALTER TABLE kegs ADD COLUMN promotion_id int;
ALTER TABLE kegs ADD CONSTRAINT kegs_promotion_fk FOREIGN KEY (promotion_id) REFERENCES promotions (id) NOT VALID;
CREATE INDEX promotions_venue_idx ON promotions (venue_id);
INSERT INTO promotions VALUES (1, '00000000-0000-0000-0000-000000000000', 10);
