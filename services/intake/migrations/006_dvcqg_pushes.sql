-- Outbound sync to the national portal (DVCQG): an outbox written with each status
-- change (the receipt, routing's events), sent in order per dossier by a background job.
-- `facts` are what the change said (status, time, unit, actor, what was done); the
-- portal's shape (DongBoHoSoMC item, CapNhatTienDoHoSoMC step) is built when it is sent.
CREATE TABLE dvcqg_pushes (
    id              bigserial PRIMARY KEY,
    dossier_id      uuid        NOT NULL,
    event_id        uuid        UNIQUE,                     -- the event that caused it
    kind            text        NOT NULL,                   -- dossier | update | step
    facts           jsonb       NOT NULL DEFAULT '{}',
    state           text        NOT NULL DEFAULT 'pending', -- pending | sent | dead
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    answer          text,                                   -- the portal's message
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
-- A dossier's next push is the pending one with the lowest id.
CREATE INDEX dvcqg_pushes_pending ON dvcqg_pushes (dossier_id, id) WHERE state = 'pending';
CREATE INDEX dvcqg_pushes_due ON dvcqg_pushes (next_attempt_at) WHERE state = 'pending';
CREATE INDEX dvcqg_pushes_dead ON dvcqg_pushes (id) WHERE state = 'dead';
