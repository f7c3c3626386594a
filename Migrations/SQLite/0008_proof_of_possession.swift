extension SQLiteMigrations {
    /// private_key_jwt, DPoP and PAR (PROOF-OF-POSSESSION.md). `clients` is rebuilt,
    /// since its CHECKs allowed only secrets and `none` (the change-counter triggers go
    /// with the old table and are made again); spent JWT identifiers and pushed requests
    /// get tables of their own; the DPoP nonce secret lives in `server_secrets`, so every
    /// instance derives the same nonces.
    static let proofOfPossession = Migration(
        id: "0008_proof_of_possession",
        sql: """
            CREATE TABLE clients_with_keys (
                id TEXT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL CHECK (length(name) > 0),
                secret_digest BLOB CHECK (secret_digest IS NULL OR length(secret_digest) = 32),
                auth_method TEXT NOT NULL
                    CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt')),
                grant_types TEXT NOT NULL,
                redirect_uris TEXT NOT NULL,
                scope TEXT NOT NULL,
                audiences TEXT NOT NULL,
                skip_consent INTEGER NOT NULL CHECK (skip_consent IN (0, 1)),
                pkce_optional INTEGER NOT NULL CHECK (pkce_optional IN (0, 1)),
                created_at INTEGER NOT NULL,
                id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256'
                    CHECK (id_token_signed_response_alg IN ('ES256', 'RS256', 'EdDSA')),
                post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
                backchannel_logout_uri TEXT,
                jwks TEXT,
                jwks_uri TEXT,
                dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0 CHECK (dpop_bound_access_tokens IN (0, 1)),
                require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0
                    CHECK (require_pushed_authorization_requests IN (0, 1)),
                CHECK ((auth_method IN ('client_secret_basic', 'client_secret_post')) = (secret_digest IS NOT NULL)),
                CHECK ((auth_method = 'private_key_jwt') = ((jwks IS NOT NULL) != (jwks_uri IS NOT NULL))),
                CHECK (jwks IS NULL OR jwks_uri IS NULL)
            ) STRICT;
            INSERT INTO clients_with_keys (id, name, secret_digest, auth_method, grant_types, redirect_uris, scope, audiences,
                skip_consent, pkce_optional, created_at, id_token_signed_response_alg, post_logout_redirect_uris, backchannel_logout_uri)
            SELECT id, name, secret_digest, auth_method, grant_types, redirect_uris, scope, audiences,
                skip_consent, pkce_optional, created_at, id_token_signed_response_alg, post_logout_redirect_uris, backchannel_logout_uri
            FROM clients;
            DROP TABLE clients;
            ALTER TABLE clients_with_keys RENAME TO clients;
            CREATE TRIGGER clients_inserted AFTER INSERT ON clients BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'clients';
            END;
            CREATE TRIGGER clients_updated AFTER UPDATE ON clients BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'clients';
            END;
            CREATE TRIGGER clients_deleted AFTER DELETE ON clients BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = 'clients';
            END;

            ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;

            CREATE TABLE used_jtis (
                digest BLOB NOT NULL PRIMARY KEY CHECK (length(digest) = 32),
                kind TEXT NOT NULL CHECK (kind IN ('client_assertion', 'dpop_proof')),
                expires_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX used_jtis_by_expiry ON used_jtis (expires_at);

            CREATE TABLE pushed_authorization_requests (
                digest BLOB NOT NULL PRIMARY KEY CHECK (length(digest) = 32),
                client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                parameters TEXT NOT NULL,
                expires_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX pushed_authorization_requests_by_expiry ON pushed_authorization_requests (expires_at);
            CREATE INDEX pushed_authorization_requests_by_client ON pushed_authorization_requests (client_id);

            CREATE TABLE server_secrets (
                name TEXT NOT NULL PRIMARY KEY CHECK (name IN ('dpop_nonce')),
                secret BLOB NOT NULL CHECK (length(secret) = 32),
                created_at INTEGER NOT NULL
            ) STRICT;
            """
    )
}
