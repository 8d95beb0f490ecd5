-- expect: none
-- expect-risk: additive
-- Bière, café — non-ASCII comments and identifiers.
CREATE TABLE "Bières" ("naam" text, "prijs €" numeric(6, 2));
CREATE INDEX "bières_naam_idx" ON "Bières" ("naam");
