-- Attachments fetched later by a media job keep what the channel needs to
-- download them (WhatsApp: direct path, media key and hashes), opaque to
-- everything but that channel and never shown; and why content is missing
-- when it could not be had (too large, gone), so staff see the reason.
-- Same meaning as ../postgres/00004_attachment_descriptor.sql.

-- +goose Up
ALTER TABLE attachments ADD COLUMN descriptor BLOB NOT NULL DEFAULT x'';
ALTER TABLE attachments ADD COLUMN missing_reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE attachments DROP COLUMN missing_reason;
ALTER TABLE attachments DROP COLUMN descriptor;
