-- Delivery: params rendered at send time (personal ones are never stored), a lease so a
-- message stuck in 'sending' after a crash is re-sent with the same request id, the send
-- time for the per-recipient rate limit, and the dossier facts routing events lack.
ALTER TABLE messages ADD COLUMN params jsonb NOT NULL DEFAULT '{}';
ALTER TABLE messages ADD COLUMN lease_until timestamptz;
ALTER TABLE messages ADD COLUMN sent_at timestamptz;
ALTER TABLE messages ADD COLUMN fallback_of uuid;
CREATE INDEX messages_sending_lease ON messages (lease_until) WHERE status = 'sending';
CREATE INDEX messages_recent_sends ON messages (contact_ref, channel, sent_at)
    WHERE sent_at IS NOT NULL;

CREATE TABLE dossier_facts (
    dossier_id     uuid PRIMARY KEY,
    dossier_code   text NOT NULL,
    procedure_code text NOT NULL,
    receiving_unit text NOT NULL,
    contact_ref    text NOT NULL
);

-- Messages that used up their attempts: what an operator looks at and may replay.
CREATE TABLE message_dead_letters (
    message_id  uuid PRIMARY KEY REFERENCES messages (id),
    channel     text        NOT NULL,
    error       text        NOT NULL,
    attempts    int         NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
