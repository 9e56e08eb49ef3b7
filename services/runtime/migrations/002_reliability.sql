-- A dead letter keeps the record itself (key, bytes, headers), so it can be replayed
-- after Kafka's retention removed the original. Rows from before this migration have
-- NULL headers and are still replayed from Kafka.
-- An outbox row the relay can never publish has no partition and offset.
ALTER TABLE dead_letters
    ADD COLUMN key       text,
    ADD COLUMN value     bytea,
    ADD COLUMN headers   jsonb,
    ADD COLUMN outbox_id bigint,
    ALTER COLUMN partition DROP NOT NULL,
    ALTER COLUMN "offset" DROP NOT NULL;

-- An outbox row that can never be published (too large, unserialisable headers) is set
-- aside with its error instead of blocking the rows behind it.
ALTER TABLE outbox
    ADD COLUMN failed_at timestamptz,
    ADD COLUMN error     text;
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;

-- A record whose dead letter could not be written either: set aside here (in a
-- transaction of its own) so the rest of its batch commits; replayed from these bytes.
CREATE TABLE parked_records (
    id          bigserial PRIMARY KEY,
    consumer    text        NOT NULL,
    topic       text        NOT NULL,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL,
    key         text,
    value       bytea,
    headers     jsonb       NOT NULL DEFAULT '{}',
    error       text        NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    UNIQUE (consumer, topic, partition, "offset")
);
