-- Step names for letters; when a step still overdue is escalated.
ALTER TABLE deadlines
    ADD COLUMN step_name   text,
    ADD COLUMN escalate_at timestamptz;

-- Bumped with every override change; each instance compares it before using a calendar.
CREATE TABLE calendar_version (
    id      int PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO calendar_version VALUES (1, 0);

-- What SLA knows of each dossier, captured from the events it consumes (for reports and
-- letters). Rows may be created by a routing event before dossier.received arrives.
CREATE TABLE dossiers (
    dossier_id        uuid PRIMARY KEY,
    dossier_code      text,
    procedure_code    text,
    field_code        text,
    receiving_unit    text,
    channel           int,
    received_at       timestamptz,
    appointment_at    timestamptz,
    contact_ref       text,
    status            int  NOT NULL DEFAULT 2,
    supplement_count  int  NOT NULL DEFAULT 0,
    paused_at         timestamptz,
    ended_at          timestamptz,
    end_status        int,
    returned_at       timestamptz,
    outcome           text CHECK (outcome IN ('early', 'on_time', 'late')),
    current_unit      text
);
CREATE INDEX dossiers_by_unit_received ON dossiers (receiving_unit, received_at);

-- Form 04 letters (one per dossier), stored as data; append-only.
CREATE TABLE apologies (
    id          uuid PRIMARY KEY,
    dossier_id  uuid        NOT NULL UNIQUE,
    letter      jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Appointment extensions (the new date of an apology); the original due date stays.
CREATE TABLE extensions (
    id                 bigserial PRIMARY KEY,
    dossier_id         uuid        NOT NULL,
    old_appointment_at timestamptz NOT NULL,
    new_appointment_at timestamptz NOT NULL,
    letter_id          uuid        NOT NULL REFERENCES apologies (id),
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX extensions_by_dossier ON extensions (dossier_id);
CREATE INDEX deadlines_by_dossier ON deadlines (dossier_id);

-- Timers in their own narrow table, one per deadline: firing locks and rewrites only the
-- timer row (its alarm flags and next instant; two small indexes) and never touches the
-- wide deadline row, so consumers and firers do not contend and nothing re-indexes it.
CREATE TABLE timers (
    deadline_id    uuid PRIMARY KEY,
    next_fire_at   timestamptz,
    due_soon_fired boolean NOT NULL DEFAULT false,
    overdue_fired  boolean NOT NULL DEFAULT false,
    escalated      boolean NOT NULL DEFAULT true,
    fired_by       text,
    fire_error     text
);
CREATE INDEX timers_due ON timers (next_fire_at) WHERE next_fire_at IS NOT NULL;
INSERT INTO timers (deadline_id, next_fire_at, due_soon_fired, overdue_fired)
    SELECT id, next_fire_at, due_soon_fired, overdue_fired FROM deadlines;
DROP INDEX deadlines_timer;
ALTER TABLE deadlines
    DROP COLUMN next_fire_at,
    DROP COLUMN due_soon_fired,
    DROP COLUMN overdue_fired;
