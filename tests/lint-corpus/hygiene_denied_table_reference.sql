-- expect: denied-table@4 denied-table@5
-- expect-risk: additive
SET lock_timeout = '2s';
INSERT INTO pour_records (tap_id) SELECT tap FROM edge.pours;
ALTER TABLE kegs ADD CONSTRAINT kegs_pour_fk FOREIGN KEY (id) REFERENCES pours (id) NOT VALID;
