-- Weekly department reports: one row per department and week (the week's
-- Sunday in the bank's time zone), taken in the transaction that queues
-- its mail, so a second run of the job, a restart or another replica never
-- sends the same week's report twice.

-- +goose Up
CREATE TABLE weekly_reports (
    department    TEXT NOT NULL,
    week_start    TEXT NOT NULL, -- YYYY-MM-DD, the Sunday that starts the week
    staff_mail_id INTEGER REFERENCES staff_mails (id),
    recipient     TEXT NOT NULL DEFAULT '', -- '' when the department has no head
    numbers       TEXT NOT NULL,            -- the report as sent, JSON
    created_at    TEXT NOT NULL,
    PRIMARY KEY (department, week_start)
) STRICT;

-- +goose Down
DROP TABLE weekly_reports;
