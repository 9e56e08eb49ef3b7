-- Messages to citizens. No phone or email is stored: the recipient is a contact reference
-- resolved from intake at send time, so personal data lives in notify only while sending.
CREATE TABLE messages (
    id                  uuid PRIMARY KEY,
    event_id            uuid        NOT NULL,
    event_type          text        NOT NULL,
    channel             text        NOT NULL,
    contact_ref         text        NOT NULL,
    dossier_id          uuid        NOT NULL,
    dossier_code        text        NOT NULL,
    unit_code           text,
    template_id         text        NOT NULL,
    template_version    int         NOT NULL,
    provider_template   jsonb       NOT NULL DEFAULT '{}',
    subject             text,
    body_text           text        NOT NULL,
    body_html           text,
    status              text        NOT NULL,
    provider            text,
    provider_message_id text,
    attempts            int         NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    last_error          text,
    trace_headers       jsonb       NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, channel, contact_ref)
);
CREATE INDEX messages_due ON messages (next_attempt_at)
    WHERE status IN ('created', 'temporary_failure');
CREATE INDEX messages_by_dossier ON messages (dossier_id);
CREATE INDEX messages_by_provider_id ON messages (provider, provider_message_id);

CREATE TABLE message_status_history (
    id         bigserial PRIMARY KEY,
    message_id uuid        NOT NULL REFERENCES messages (id),
    status     text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail     text        NOT NULL DEFAULT ''
);
CREATE INDEX message_history_by_message ON message_status_history (message_id, id);

CREATE TABLE opt_outs (
    contact_ref text NOT NULL,
    channel     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contact_ref, channel)
);
