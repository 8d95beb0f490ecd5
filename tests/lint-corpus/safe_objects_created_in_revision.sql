-- expect: none
-- expect-risk: additive
-- Objects created earlier in the revision have no users and no rows yet:
-- renaming them, checking a new domain or moving an index of a new table
-- is harmless.
CREATE SCHEMA loyalty;
CREATE TYPE loyalty.tier AS ENUM ('bronze', 'silver');
ALTER TYPE loyalty.tier RENAME VALUE 'silver' TO 'gold';
CREATE DOMAIN loyalty.points AS integer;
ALTER DOMAIN loyalty.points ADD CONSTRAINT points_positive CHECK (VALUE >= 0);
ALTER DOMAIN loyalty.points SET NOT NULL;
CREATE SEQUENCE loyalty.card_no;
ALTER SEQUENCE loyalty.card_no RENAME TO card_number;
CREATE TABLE loyalty.cards (
    no bigint PRIMARY KEY DEFAULT nextval('loyalty.card_number'),
    tier loyalty.tier NOT NULL,
    balance loyalty.points DEFAULT 0
);
CREATE INDEX cards_tier_idx ON loyalty.cards (tier);
ALTER INDEX loyalty.cards_tier_idx SET TABLESPACE pg_default;
CREATE FUNCTION loyalty.award(card bigint, amount integer) RETURNS void
    LANGUAGE sql AS $$ UPDATE loyalty.cards SET balance = balance + amount WHERE no = card $$;
ALTER FUNCTION loyalty.award(bigint, integer) RENAME TO grant_points;
ALTER SCHEMA loyalty RENAME TO rewards;
