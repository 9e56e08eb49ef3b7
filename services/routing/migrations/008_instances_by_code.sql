-- Officials and the console find a dossier by its code: without this, every lookup read
-- every instance (a province keeps millions). Codes never change, so state updates stay HOT.
CREATE INDEX IF NOT EXISTS instances_by_code ON instances (dossier_code);
