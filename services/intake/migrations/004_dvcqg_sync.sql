-- National portal (DVCQG) sync: a dossier received elsewhere keeps its code (MaHoSo, in
-- `external_code`) and what the portal sent; one MaHoSo is one dossier in the whole
-- province, whichever portal sends it; every update is kept (what changed, when, from
-- which portal). A dossier received here has no MaHoSo of its own: its code is one.

-- What the portal sent that intake keeps as sent (field code and name, processing
-- agency, fees, supplement history, result papers, notes, fields it does not name).
-- Personal values (name, phone, e-mail, identity documents) live in `applicant`.
ALTER TABLE dossiers ADD COLUMN dvcqg jsonb;

-- Before this, each portal had its own copy of a MaHoSo: the earliest dossier keeps the
-- code; later copies stay dossiers of their own, found by our code, and their timeline
-- says which MaHoSo they had, so the code can be unique from now on.
CREATE TEMPORARY TABLE detached ON COMMIT DROP AS
    SELECT id, external_code FROM (
        SELECT id, external_code,
               row_number() OVER (PARTITION BY external_code ORDER BY received_at, id) AS n
        FROM dossiers WHERE external_code IS NOT NULL
    ) ranked WHERE n > 1;
INSERT INTO timeline (event_id, dossier_id, source, event_type, sequence, occurred_at, details)
    SELECT gen_random_uuid(), id, 'intake', 'dvcqg.duplicate_detached', 0, now(),
           jsonb_build_object('ma_ho_so', external_code)
    FROM detached;
UPDATE dossiers d SET external_code = NULL FROM detached x WHERE d.id = x.id;
CREATE UNIQUE INDEX dossiers_by_ma_ho_so ON dossiers (external_code)
    WHERE external_code IS NOT NULL;

-- Each update a portal's re-send (isUpdating "True") applied; personal fields are
-- recorded as changed, without their values.
CREATE TABLE dvcqg_revisions (
    id          bigserial PRIMARY KEY,
    dossier_id  uuid        NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    portal_id   text        NOT NULL,
    changes     jsonb       NOT NULL,
    status_kept smallint
);
CREATE INDEX dvcqg_revisions_by_dossier ON dvcqg_revisions (dossier_id, id);
