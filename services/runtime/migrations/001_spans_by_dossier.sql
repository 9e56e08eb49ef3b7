-- The operator console finds a dossier's traces by the attributes its spans carry.
CREATE INDEX spans_by_dossier_id ON spans ((attributes ->> 'onestop.dossier_id'));
CREATE INDEX spans_by_dossier_code ON spans ((attributes ->> 'onestop.dossier_code'));
