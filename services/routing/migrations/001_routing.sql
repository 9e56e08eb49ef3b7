-- One row per dossier: its state as the pure core folds it (pinned workflow version).
CREATE TABLE instances (
    dossier_id     uuid PRIMARY KEY,
    dossier_code   text        NOT NULL,
    procedure_code text        NOT NULL,
    status         smallint    NOT NULL,
    version        int         NOT NULL,
    state          jsonb       NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Append-only log of the core's events: the workflow history of each dossier.
CREATE TABLE instance_events (
    dossier_id uuid        NOT NULL,
    seq        int         NOT NULL,
    type       text        NOT NULL,
    at         timestamptz NOT NULL,
    event      jsonb       NOT NULL,
    PRIMARY KEY (dossier_id, seq)
);

-- Each unit's inbox, materialised from the level queues and from the instance state.
CREATE TABLE inbox (
    task_id         text PRIMARY KEY,
    dossier_id      uuid        NOT NULL,
    dossier_code    text        NOT NULL,
    procedure_code  text        NOT NULL,
    step_id         text        NOT NULL,
    unit_code       text        NOT NULL,
    queue_level     text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('open', 'claimed', 'waiting', 'done')),
    claimed_by      text,
    allotment_hours numeric     NOT NULL,
    assigned_at     timestamptz NOT NULL,
    due_at          timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_by_unit ON inbox (unit_code, status, due_at);

-- Every action an official or a system took: who, in which role and unit, when, what.
CREATE TABLE audit (
    id         bigserial PRIMARY KEY,
    dossier_id uuid        NOT NULL,
    task_id    text,
    actor      text        NOT NULL,
    role       text        NOT NULL,
    unit_code  text,
    action     text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    details    jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_dossier ON audit (dossier_id, id);

-- Agency systems owe an answer by timeout_at; a job times out the silent ones.
CREATE TABLE external_waits (
    correlation_id text PRIMARY KEY,
    dossier_id     uuid        NOT NULL,
    timeout_at     timestamptz NOT NULL,
    answered       boolean     NOT NULL DEFAULT false
);
CREATE INDEX external_waits_due ON external_waits (timeout_at) WHERE NOT answered;

-- Operator accounts (development seeds them; production loads them from the province's IdP).
CREATE TABLE officials (
    username      text PRIMARY KEY,
    password_hash text NOT NULL,
    full_name     text NOT NULL,
    unit_code     text NOT NULL,
    role          text NOT NULL CHECK (role IN ('official', 'unit_head', 'province_supervisor'))
);
