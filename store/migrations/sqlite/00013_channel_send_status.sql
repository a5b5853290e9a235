-- A channel's send status is its latest send attempt (store.ChannelSendStatus):
-- found by channel and time without scanning every reply.

-- +goose Up
CREATE INDEX outbound_channel_activity ON outbound_messages (channel_id, updated_at);

-- +goose Down
DROP INDEX outbound_channel_activity;
