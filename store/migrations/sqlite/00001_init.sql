-- The Wasl schema for SQLite. Keep it in step with ../postgres: same
-- tables, columns and indexes; only the types differ. Timestamps are
-- TEXT in one fixed-width UTC form (2006-01-02T15:04:05.000000Z) so they
-- compare and sort as text; booleans are INTEGER 0/1; tables are STRICT so a
-- wrongly typed value fails instead of being stored.

-- +goose Up
CREATE TABLE channels (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    config     TEXT NOT NULL DEFAULT '{}',
    secret     BLOB,
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE contacts (
    id           INTEGER PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    language     TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL
) STRICT;

CREATE TABLE contact_identities (
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    name       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, value)
) STRICT;
CREATE INDEX contact_identities_contact ON contact_identities (contact_id);

CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY,
    contact_id      INTEGER NOT NULL REFERENCES contacts (id),
    channel_id      INTEGER NOT NULL REFERENCES channels (id),
    subject         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'open',
    last_message_at TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX conversations_contact_channel ON conversations (contact_id, channel_id, last_message_at);
CREATE INDEX conversations_activity ON conversations (last_message_at, id);

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY,
    channel_id        INTEGER NOT NULL REFERENCES channels (id),
    external_id       TEXT NOT NULL,
    conversation_id   INTEGER REFERENCES conversations (id),
    contact_id        INTEGER REFERENCES contacts (id),
    from_kind         TEXT NOT NULL DEFAULT '',
    from_value        TEXT NOT NULL DEFAULT '',
    from_name         TEXT NOT NULL DEFAULT '',
    to_addrs          TEXT NOT NULL DEFAULT '[]',
    subject           TEXT NOT NULL DEFAULT '',
    body_text         TEXT NOT NULL DEFAULT '',
    body_html         TEXT NOT NULL DEFAULT '',
    header_message_id TEXT NOT NULL DEFAULT '',
    in_reply_to       TEXT NOT NULL DEFAULT '',
    refs              TEXT NOT NULL DEFAULT '[]',
    flags             TEXT NOT NULL DEFAULT '{}',
    quarantined       INTEGER NOT NULL DEFAULT 0,
    quarantine_reason TEXT NOT NULL DEFAULT '',
    raw_sha256        TEXT NOT NULL DEFAULT '',
    language          TEXT NOT NULL DEFAULT '',
    scope             TEXT NOT NULL DEFAULT '',
    topic             TEXT NOT NULL DEFAULT '',
    confidence        REAL NOT NULL DEFAULT 0,
    decision          TEXT,
    sent_at           TEXT,
    received_at       TEXT,
    created_at        TEXT NOT NULL,
    UNIQUE (channel_id, external_id)
) STRICT;
CREATE INDEX messages_conversation ON messages (conversation_id, id);
CREATE INDEX messages_header_message_id ON messages (header_message_id) WHERE header_message_id <> '';

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    filename     TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL DEFAULT '',
    size         INTEGER NOT NULL DEFAULT 0,
    sha256       TEXT NOT NULL DEFAULT '',
    url          TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX attachments_message ON attachments (message_id);

CREATE TABLE ticket_counters (
    prefix      TEXT NOT NULL,
    year        INTEGER NOT NULL,
    last_number INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
) STRICT;

CREATE TABLE tickets (
    id              INTEGER PRIMARY KEY,
    ref             TEXT NOT NULL UNIQUE,
    prefix          TEXT NOT NULL,
    year            INTEGER NOT NULL,
    number          INTEGER NOT NULL,
    conversation_id INTEGER REFERENCES conversations (id),
    contact_id      INTEGER REFERENCES contacts (id),
    topic           TEXT NOT NULL DEFAULT '',
    department      TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    sla_due_at      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    closed_at       TEXT,
    UNIQUE (prefix, year, number)
) STRICT;
CREATE INDEX tickets_conversation ON tickets (conversation_id, id);
CREATE INDEX tickets_status ON tickets (status, department);

CREATE TABLE ticket_events (
    id          INTEGER PRIMARY KEY,
    ticket_id   INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL DEFAULT '',
    from_status TEXT NOT NULL DEFAULT '',
    to_status   TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

CREATE TABLE outbound_messages (
    id                     INTEGER PRIMARY KEY,
    channel_id             INTEGER NOT NULL REFERENCES channels (id),
    conversation_id        INTEGER NOT NULL REFERENCES conversations (id),
    in_reply_to_message_id INTEGER REFERENCES messages (id),
    ticket_id              INTEGER REFERENCES tickets (id),
    contact_id             INTEGER NOT NULL REFERENCES contacts (id),
    to_kind                TEXT NOT NULL DEFAULT '',
    to_value               TEXT NOT NULL DEFAULT '',
    to_name                TEXT NOT NULL DEFAULT '',
    subject                TEXT NOT NULL DEFAULT '',
    body_text              TEXT NOT NULL DEFAULT '',
    body_html              TEXT NOT NULL DEFAULT '',
    header_message_id      TEXT NOT NULL DEFAULT '',
    in_reply_to            TEXT NOT NULL DEFAULT '',
    refs                   TEXT NOT NULL DEFAULT '[]',
    auto                   INTEGER NOT NULL DEFAULT 0,
    state                  TEXT NOT NULL,
    provider_id            TEXT NOT NULL DEFAULT '',
    error                  TEXT NOT NULL DEFAULT '',
    attempts               INTEGER NOT NULL DEFAULT 0,
    created_at             TEXT NOT NULL,
    sent_at                TEXT,
    updated_at             TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX outbound_header_message_id ON outbound_messages (header_message_id) WHERE header_message_id <> '';
CREATE INDEX outbound_provider ON outbound_messages (channel_id, provider_id) WHERE provider_id <> '';
CREATE INDEX outbound_conversation ON outbound_messages (conversation_id, id);
CREATE INDEX outbound_contact ON outbound_messages (contact_id, conversation_id, created_at);

CREATE TABLE mailbox_cursors (
    channel_id   INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    mailbox      TEXT NOT NULL,
    uid_validity INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (channel_id, mailbox)
) STRICT;

-- +goose Down
DROP TABLE mailbox_cursors;
DROP TABLE outbound_messages;
DROP TABLE ticket_events;
DROP TABLE tickets;
DROP TABLE ticket_counters;
DROP TABLE attachments;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE contact_identities;
DROP TABLE contacts;
DROP TABLE channels;
