-- Tables every service has in its own schema: outbox, consumer dedupe, recorded spans.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text        NOT NULL,
    key          text        NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    value        bytea       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    consumer    text        NOT NULL,
    topic       text        NOT NULL,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL,
    error       text        NOT NULL,
    attempts    int         NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);

CREATE TABLE spans (
    trace_id       text        NOT NULL,
    span_id        text        NOT NULL,
    parent_span_id text,
    service        text        NOT NULL,
    name           text        NOT NULL,
    kind           text        NOT NULL,
    start_time     timestamptz NOT NULL,
    end_time       timestamptz NOT NULL,
    status         text        NOT NULL,
    attributes     jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX spans_by_start ON spans (start_time);
