-- Two guards of the pipeline (issue 7). A conversation opened by a mail that
-- cites another contact's ticket remembers which ticket, so staff see why it
-- was not joined to it. A contact whose automatic replies hit the cap (an
-- autoresponder answering ours) is muted until a quiet period has passed.

-- +goose Up
ALTER TABLE conversations ADD COLUMN cites_foreign_ticket TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN auto_reply_muted_until TEXT;

-- +goose Down
ALTER TABLE contacts DROP COLUMN auto_reply_muted_until;
ALTER TABLE conversations DROP COLUMN cites_foreign_ticket;
