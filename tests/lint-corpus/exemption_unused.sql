-- expect: unused-exemption@3
-- expect-risk: additive
-- schemagate:allow drop-table reason="nothing is dropped here"
CREATE TABLE feedback (id int);
