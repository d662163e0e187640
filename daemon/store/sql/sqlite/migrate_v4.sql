-- Version 4: an item's give-up clock starts at its latest acknowledgement (docs/delivery.md,
-- "Give-up"). An intent that merges into a pending twin sets the twin's acked_ms; NULL means
-- created_ms, so that rows acknowledged once pay nothing. The give-up sweep reads targets_age on
-- that expression.
ALTER TABLE targets ADD COLUMN acked_ms INTEGER;
DROP INDEX IF EXISTS targets_age;
CREATE INDEX targets_age ON targets(state, coalesce(acked_ms, created_ms));
