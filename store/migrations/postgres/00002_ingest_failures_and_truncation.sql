-- Two things the email channel needs to remember. Keep in step with
-- ../sqlite/00002_ingest_failures_and_truncation.sql.
--
-- mailbox_cursors: the UID just above the cursor that failed to ingest, how
-- many times in a row it failed and the last error, so that one message that
-- can never be stored is quarantined after a bounded number of tries instead
-- of blocking its mailbox forever, across reconnects and restarts. SaveCursor
-- clears them when the cursor moves on.
--
-- messages: whether the stored text and HTML bodies were cut at the size cap
-- (the whole original stays in the raw blob).

-- +goose Up
ALTER TABLE mailbox_cursors ADD COLUMN failed_uid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mailbox_cursors ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailbox_cursors ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN text_truncated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE messages ADD COLUMN html_truncated BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE messages DROP COLUMN html_truncated;
ALTER TABLE messages DROP COLUMN text_truncated;
ALTER TABLE mailbox_cursors DROP COLUMN last_error;
ALTER TABLE mailbox_cursors DROP COLUMN failures;
ALTER TABLE mailbox_cursors DROP COLUMN failed_uid;
