-- Portals (iGate-style systems, desks) and their API keys: only a SHA-256 of each key
-- is kept. A key is scoped to the units its portal may submit for ('*' = every unit).
CREATE TABLE portals (
    id         text PRIMARY KEY,
    name       text        NOT NULL,
    units      text[]      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_hash   text PRIMARY KEY,
    portal_id  text        NOT NULL REFERENCES portals (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE webhooks (
    id         uuid PRIMARY KEY,
    portal_id  text        NOT NULL REFERENCES portals (id),
    url        text        NOT NULL,
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    active     boolean     NOT NULL DEFAULT true
);
CREATE INDEX webhooks_by_portal ON webhooks (portal_id) WHERE active;

-- Outbox of status callbacks: written with the status change, sent by a background job.
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    webhook_id      uuid        NOT NULL REFERENCES webhooks (id),
    dossier_id      uuid        NOT NULL,
    version         int         NOT NULL,
    body            jsonb       NOT NULL,
    state           text        NOT NULL DEFAULT 'pending', -- pending | delivered | dead
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (id) WHERE state = 'dead';

ALTER TABLE webhooks ADD COLUMN max_attempts int NOT NULL DEFAULT 8;
ALTER TABLE webhooks ADD COLUMN backoff_seconds double precision NOT NULL DEFAULT 2.0;

-- The last citizen action and the status version it was taken at: the same action is
-- refused while the units have not answered the previous one.
ALTER TABLE dossiers ADD COLUMN last_action text;
ALTER TABLE dossiers ADD COLUMN last_action_version int;
ALTER TABLE dossiers ADD COLUMN external_code text;
CREATE INDEX dossiers_by_external_code ON dossiers (portal_id, external_code)
    WHERE external_code IS NOT NULL;
