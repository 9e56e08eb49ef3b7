-- Retries for hours: the retry window is counted from a message's first failure, and a
-- message whose send lease ran out on every try (a crash each time) gives up by count.
ALTER TABLE messages ADD COLUMN first_failure_at timestamptz;
ALTER TABLE messages ADD COLUMN lease_expiries int NOT NULL DEFAULT 0;
CREATE INDEX message_dead_letters_recent ON message_dead_letters (recorded_at DESC);
