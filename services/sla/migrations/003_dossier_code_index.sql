-- Reads name a dossier by its code as well as its id (apologies?dossier=<code>).
CREATE INDEX IF NOT EXISTS dossiers_by_code ON dossiers (dossier_code);
