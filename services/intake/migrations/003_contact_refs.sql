-- Contact references: an opaque random value per dossier (128 bits, URL-safe base64, no
-- padding), handed to notify and SLA instead of the dossier id, which public endpoints
-- show. Dossiers received before get one too; `contact_ref_announced` is false until
-- intake has published `dossier.contact_ref_assigned` for them (done at start).
ALTER TABLE dossiers ADD COLUMN contact_ref text;
ALTER TABLE dossiers ADD COLUMN contact_ref_announced boolean NOT NULL DEFAULT true;
UPDATE dossiers SET
    contact_ref = translate(
        rtrim(encode(substring(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
            FROM 1 FOR 16), 'base64'), '='),
        '+/', '-_'),
    contact_ref_announced = false;
ALTER TABLE dossiers ALTER COLUMN contact_ref SET NOT NULL;
CREATE UNIQUE INDEX dossiers_by_contact_ref ON dossiers (contact_ref);
CREATE INDEX dossiers_contact_ref_unannounced ON dossiers (received_at)
    WHERE NOT contact_ref_announced;
