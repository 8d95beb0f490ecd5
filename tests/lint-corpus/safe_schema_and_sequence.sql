-- expect: none
-- expect-risk: additive
CREATE SCHEMA IF NOT EXISTS billing;
CREATE SEQUENCE billing.invoice_no START 1000;
CREATE TABLE billing.invoices (
    no bigint PRIMARY KEY DEFAULT nextval('billing.invoice_no'),
    venue_id uuid NOT NULL,
    total numeric(12, 2) NOT NULL
);
