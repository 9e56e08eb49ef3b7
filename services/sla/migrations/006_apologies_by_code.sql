-- Operators find a dossier's apology letter by the dossier's code (the letter carries it).
CREATE INDEX IF NOT EXISTS apologies_by_code ON apologies ((letter ->> 'dossier_code'));
