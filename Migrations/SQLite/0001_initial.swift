extension SQLiteMigrations {
    /// Clients, signing keys and revoked access tokens. Times are Unix seconds.
    static let initial = Migration(
        id: "0001_initial",
        sql: """
            CREATE TABLE clients (
                id TEXT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL CHECK (length(name) > 0),
                secret_digest BLOB CHECK (secret_digest IS NULL OR length(secret_digest) = 32),
                auth_method TEXT NOT NULL
                    CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
                grant_types TEXT NOT NULL,
                redirect_uris TEXT NOT NULL,
                scope TEXT NOT NULL,
                audiences TEXT NOT NULL,
                skip_consent INTEGER NOT NULL CHECK (skip_consent IN (0, 1)),
                pkce_optional INTEGER NOT NULL CHECK (pkce_optional IN (0, 1)),
                created_at INTEGER NOT NULL,
                CHECK ((auth_method = 'none') = (secret_digest IS NULL))
            ) STRICT;

            CREATE TABLE signing_keys (
                kid TEXT NOT NULL PRIMARY KEY,
                algorithm TEXT NOT NULL CHECK (algorithm IN ('ES256', 'RS256', 'EdDSA')),
                public_jwk TEXT NOT NULL,
                encrypted_private_key BLOB NOT NULL,
                created_at INTEGER NOT NULL,
                activates_at INTEGER NOT NULL,
                retired_at INTEGER
            ) STRICT;

            CREATE TABLE revoked_access_tokens (
                jti TEXT NOT NULL PRIMARY KEY,
                client_id TEXT NOT NULL,
                expires_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX revoked_access_tokens_by_expiry ON revoked_access_tokens (expires_at);
            """
    )
}
