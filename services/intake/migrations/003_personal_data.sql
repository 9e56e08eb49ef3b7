-- Personal-data duties (Law 91/2025/QH15, Decree 356/2025/NĐ-CP): when a closed dossier's
-- personal data was anonymised, a look-up by citizen ID for data-subject requests, ages
-- for the retention purge, and the audit of exports and identity-document reads.
ALTER TABLE dossiers ADD COLUMN anonymised_at timestamptz;
CREATE INDEX dossiers_by_citizen_id ON dossiers ((applicant ->> 'citizen_id'))
    WHERE anonymised_at IS NULL;
CREATE INDEX dossiers_not_anonymised ON dossiers (received_at) WHERE anonymised_at IS NULL;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

CREATE TABLE personal_data_access (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    caller      text        NOT NULL,
    action      text        NOT NULL,  -- dsr_export | identity_document_read
    dossier_ids uuid[]      NOT NULL DEFAULT '{}',
    subject     text,                  -- a masked citizen ID, never the number itself
    details     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX personal_data_access_by_at ON personal_data_access (at);
