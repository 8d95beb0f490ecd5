-- Which agent process sent a controller's reports: two agents reporting
-- under one controller id (a cloned SD card, a mis-set --controller-id)
-- alternate between their instances, while a restart changes it once.
-- agent_instance is the latest report's, previous_agent_instance the one it
-- replaced ('' for none, or an agent too old to send one), and
-- duplicate_agent_at_ms when a report last went back to the previous
-- instance (NULL: never).
ALTER TABLE controllers ADD COLUMN agent_instance TEXT NOT NULL DEFAULT '';
ALTER TABLE controllers ADD COLUMN previous_agent_instance TEXT NOT NULL DEFAULT '';
ALTER TABLE controllers ADD COLUMN duplicate_agent_at_ms BIGINT;
