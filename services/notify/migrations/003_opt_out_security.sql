-- Who stopped a channel (audit): 'link' (the citizen's signed link), 'portal:<id>'
-- (through intake), 'operator:<user>' or 'service:<name>'.
ALTER TABLE opt_outs ADD COLUMN source text NOT NULL DEFAULT '';

-- The units a dossier belongs to (received at, assigned to, named by a message): their
-- operators may read its messages and manage its opt-outs.
CREATE TABLE dossier_units (
    dossier_id uuid NOT NULL,
    unit_code  text NOT NULL,
    PRIMARY KEY (dossier_id, unit_code)
);
INSERT INTO dossier_units (dossier_id, unit_code)
    SELECT dossier_id, receiving_unit FROM dossier_facts
    UNION SELECT dossier_id, unit_code FROM messages WHERE unit_code IS NOT NULL
    ON CONFLICT DO NOTHING;

CREATE INDEX dossier_facts_by_code ON dossier_facts (dossier_code);
CREATE INDEX messages_by_dossier_code ON messages (dossier_code);
-- Messages waiting for the dossier's contact reference (their event came first).
CREATE INDEX messages_pending_contact ON messages (dossier_id) WHERE contact_ref = '';
