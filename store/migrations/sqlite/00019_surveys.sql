-- Satisfaction surveys: a response per signed link (its token's hash is
-- unique, so a link answers once), for a closed ticket or for a message
-- answered only automatically, with what the reports group it by.

-- +goose Up
CREATE TABLE survey_responses (
    id              INTEGER PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    ticket_id       INTEGER REFERENCES tickets (id) ON DELETE CASCADE,
    message_id      INTEGER REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
    department      TEXT NOT NULL DEFAULT '',
    topic           TEXT NOT NULL DEFAULT '',
    agent_id        INTEGER REFERENCES users (id),
    service_rating  INTEGER NOT NULL CHECK (service_rating BETWEEN 1 AND 5),
    staff_rating    INTEGER CHECK (staff_rating BETWEEN 1 AND 5),
    comment         TEXT NOT NULL DEFAULT '',
    language        TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX survey_responses_ticket ON survey_responses (ticket_id);
CREATE INDEX survey_responses_created ON survey_responses (created_at);

-- +goose Down
DROP TABLE survey_responses;
