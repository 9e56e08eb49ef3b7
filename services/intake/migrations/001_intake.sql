-- Dossiers as submitted (personal data lives here and nowhere else).
CREATE TABLE dossiers (
    id               uuid PRIMARY KEY,
    code             text        NOT NULL UNIQUE,
    agency_code      text        NOT NULL,
    procedure_code   text        NOT NULL,
    field_code       text        NOT NULL,
    receiving_unit   text        NOT NULL,
    channel          smallint    NOT NULL,
    applicant        jsonb       NOT NULL,
    documents        jsonb       NOT NULL,
    fees             jsonb       NOT NULL,
    request          jsonb       NOT NULL,
    received_at      timestamptz NOT NULL,
    clock_started_at timestamptz NOT NULL,
    appointment_at   timestamptz NOT NULL,
    status           smallint    NOT NULL,
    status_version   int         NOT NULL DEFAULT 0,
    current_unit     text,
    portal_id        text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossiers_by_unit_day ON dossiers (receiving_unit, received_at);

-- Gap-free daily sequence per agency: the row lock of the upsert serialises allocation
-- and a rolled-back submission rolls its number back too.
CREATE TABLE dossier_sequences (
    agency_code text NOT NULL,
    day         date NOT NULL,
    last_value  int  NOT NULL,
    PRIMARY KEY (agency_code, day)
);

CREATE TABLE idempotency_keys (
    portal_id     text        NOT NULL,
    key           text        NOT NULL,
    request_hash  text        NOT NULL,
    status_code   int         NOT NULL,
    response      jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, key)
);

-- Public history of a dossier as told by every service; append-only.
CREATE TABLE timeline (
    event_id    uuid PRIMARY KEY,
    dossier_id  uuid        NOT NULL,
    source      text        NOT NULL,
    event_type  text        NOT NULL,
    sequence    int         NOT NULL,
    occurred_at timestamptz NOT NULL,
    details     jsonb       NOT NULL
);
CREATE INDEX timeline_by_dossier ON timeline (dossier_id, occurred_at);
