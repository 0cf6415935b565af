-- Two columns of V1 that nothing ever wrote: the progress message is the interaction's
-- original response, and polling times are computed, not stored.

ALTER TABLE jobs DROP COLUMN progress_message_id;

ALTER TABLE jobs DROP COLUMN next_check_at;
