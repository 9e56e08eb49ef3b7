-- Citizens' satisfaction ratings, from the signed link of the result message: one per
-- dossier (the primary key refuses a second). The comment is stored masked.
CREATE TABLE ratings (
    dossier_id   uuid PRIMARY KEY,
    dossier_code text        NOT NULL,
    timeliness   smallint    NOT NULL CHECK (timeliness BETWEEN 1 AND 5),
    attitude     smallint    NOT NULL CHECK (attitude BETWEEN 1 AND 5),
    clarity      smallint    NOT NULL CHECK (clarity BETWEEN 1 AND 5),
    outcome      smallint    NOT NULL CHECK (outcome BETWEEN 1 AND 5),
    comment      text CHECK (char_length(comment) <= 1000),
    rated_at     timestamptz NOT NULL DEFAULT now()
);
