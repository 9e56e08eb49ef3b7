-- Operator sign-in: accounts can be disabled; development accounts are marked so that a
-- production start refuses while any exist; refresh tokens (stored as SHA-256, rotated on
-- use) and revoked access tokens (until they expire); the issuer's signing key when no key
-- file is configured (development only).
ALTER TABLE officials ADD COLUMN enabled boolean NOT NULL DEFAULT true;
ALTER TABLE officials ADD COLUMN demo boolean NOT NULL DEFAULT false;
ALTER TABLE officials ALTER COLUMN password_hash DROP NOT NULL;

CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    username    text NOT NULL REFERENCES officials (username) ON DELETE CASCADE,
    family      uuid NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

CREATE TABLE revoked_access_tokens (
    jti         text PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);

CREATE TABLE dev_signing_keys (
    kid         text PRIMARY KEY,
    private_pem bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
