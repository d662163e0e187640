-- Version 1 kept zone ids and intent ids as text in every row and no counts. The rows move over
-- as they are (in_flight ones become pending: no request of the old process is still open).
ALTER TABLE intents RENAME TO intents_v1;
ALTER TABLE targets RENAME TO targets_v1;
DROP INDEX IF EXISTS targets_pending_key;
DROP INDEX IF EXISTS targets_state;
DROP INDEX IF EXISTS intent_targets_target;
