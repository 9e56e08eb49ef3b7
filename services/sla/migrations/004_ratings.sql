-- Citizens' satisfaction ratings (`dossier.rated`, one per dossier), for the reports by
-- unit and field (joined with `dossiers`). Scores only: the comment stays with notify.
CREATE TABLE ratings (
    dossier_id uuid PRIMARY KEY,
    timeliness smallint    NOT NULL CHECK (timeliness BETWEEN 1 AND 5),
    attitude   smallint    NOT NULL CHECK (attitude BETWEEN 1 AND 5),
    clarity    smallint    NOT NULL CHECK (clarity BETWEEN 1 AND 5),
    outcome    smallint    NOT NULL CHECK (outcome BETWEEN 1 AND 5),
    rated_at   timestamptz NOT NULL
);
CREATE INDEX ratings_by_time ON ratings (rated_at);
