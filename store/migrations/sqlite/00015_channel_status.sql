-- What each channel's connector last reported, written by the replica that
-- runs it, so the operator page on any replica shows it; and indexes for
-- the page's counts of messages in and replies out per channel.

-- +goose Up
CREATE TABLE channel_status (
    channel_id INTEGER PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    replica    TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX messages_channel_created ON messages (channel_id, created_at);
CREATE INDEX outbound_channel_created ON outbound_messages (channel_id, created_at);

-- +goose Down
DROP INDEX outbound_channel_created;
DROP INDEX messages_channel_created;
DROP TABLE channel_status;
