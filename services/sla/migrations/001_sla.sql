-- Deadlines double as durable timers: next_fire_at is the next instant something is due
-- (due-soon warning, then overdue); the partial index keeps a timer check O(log n).
CREATE TABLE deadlines (
    id              uuid PRIMARY KEY,
    dossier_id      uuid        NOT NULL,
    dossier_code    text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('dossier', 'step')),
    task_id         text,
    unit_code       text        NOT NULL,
    field_code      text,
    starts_at       timestamptz NOT NULL,
    allotment_hours numeric     NOT NULL,
    due_at          timestamptz NOT NULL,
    due_soon_at     timestamptz,
    state           text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'paused', 'closed')),
    paused_at       timestamptz,
    due_soon_fired  boolean     NOT NULL DEFAULT false,
    overdue_fired   boolean     NOT NULL DEFAULT false,
    next_fire_at    timestamptz,
    closed_at       timestamptz,
    outcome         text CHECK (outcome IN ('early', 'on_time', 'late')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX deadlines_one_per_step ON deadlines (task_id) WHERE task_id IS NOT NULL;
CREATE UNIQUE INDEX deadlines_one_per_dossier ON deadlines (dossier_id) WHERE kind = 'dossier';
CREATE INDEX deadlines_timer ON deadlines (next_fire_at) WHERE next_fire_at IS NOT NULL;

-- Administrator overrides of the working calendar; '*' applies to every unit.
CREATE TABLE calendar_overrides (
    unit_code  text        NOT NULL DEFAULT '*',
    day        date        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('day_off', 'working_day')),
    note       text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit_code, day)
);
