-- Retention: when notify first learnt a dossier's contact reference (facts are deleted a
-- while after its last message), and ages for erasing the text of ended messages.
ALTER TABLE dossier_facts ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX messages_by_age ON messages (updated_at) WHERE body_text <> '';
CREATE INDEX messages_by_contact ON messages (contact_ref, updated_at);
