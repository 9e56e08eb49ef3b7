-- Who read which dossier's personal data, when, and what (Nghị định 13/2023: processing of
-- personal data is recorded). One row per read, written in the request that reads;
-- append-only. dossier_id is null only when a supervisor reads a dossier routing has
-- not started yet (intake knows it first); dossier_code is kept either way.
CREATE TABLE access_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text        NOT NULL,
    role         text        NOT NULL,
    unit_code    text,
    dossier_id   uuid,
    dossier_code text,
    what         text        NOT NULL,
    parts        text[]      NOT NULL DEFAULT '{}'
);
CREATE INDEX access_log_by_dossier ON access_log (dossier_id, id);
CREATE INDEX access_log_by_code ON access_log (dossier_code, id);
CREATE INDEX access_log_by_actor ON access_log (actor, id);
