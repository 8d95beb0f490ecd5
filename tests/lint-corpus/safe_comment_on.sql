-- expect: none
-- expect-risk: additive
COMMENT ON TABLE kegs IS 'Physical kegs; remaining_ml is maintained by a trigger';
COMMENT ON COLUMN kegs.remaining_ml IS 'millilitres left';
