extension PostgreSQLMigrations {
    /// Everything the SQLite migrations 0001–0003 build, plus the sign-in failures that
    /// instances share for their rate limits. Statements are separated by a line holding
    /// only `;` so that the runner can send them one by one.
    static let initial = Migration(
        id: "0001_initial",
        sql: """
            CREATE TABLE clients (
                id TEXT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL CHECK (length(name) > 0),
                secret_digest BYTEA CHECK (secret_digest IS NULL OR octet_length(secret_digest) = 32),
                auth_method TEXT NOT NULL
                    CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
                grant_types TEXT NOT NULL,
                redirect_uris TEXT NOT NULL,
                scope TEXT NOT NULL,
                audiences TEXT NOT NULL,
                skip_consent BOOLEAN NOT NULL,
                pkce_optional BOOLEAN NOT NULL,
                created_at BIGINT NOT NULL,
                CHECK ((auth_method = 'none') = (secret_digest IS NULL))
            )
            ;
            CREATE TABLE signing_keys (
                kid TEXT NOT NULL PRIMARY KEY,
                algorithm TEXT NOT NULL CHECK (algorithm IN ('ES256', 'RS256', 'EdDSA')),
                public_jwk TEXT NOT NULL,
                encrypted_private_key BYTEA NOT NULL,
                created_at BIGINT NOT NULL,
                activates_at BIGINT NOT NULL,
                retired_at BIGINT,
                -- The order keys were stored in (SQLite's rowid).
                position BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
            )
            ;
            CREATE TABLE revoked_access_tokens (
                jti TEXT NOT NULL PRIMARY KEY,
                client_id TEXT NOT NULL,
                expires_at BIGINT NOT NULL
            )
            ;
            CREATE INDEX revoked_access_tokens_by_expiry ON revoked_access_tokens (expires_at)
            ;
            CREATE TABLE users (
                id TEXT NOT NULL PRIMARY KEY,
                username TEXT NOT NULL UNIQUE CHECK (length(username) > 0),
                password_hash TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )
            ;
            CREATE TABLE grants (
                id TEXT NOT NULL PRIMARY KEY,
                client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                scope TEXT NOT NULL,
                audiences TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                revoked_at BIGINT
            )
            ;
            CREATE INDEX grants_by_expiry ON grants (expires_at)
            ;
            CREATE INDEX grants_by_client ON grants (client_id)
            ;
            CREATE INDEX grants_by_user ON grants (user_id)
            ;
            CREATE TABLE authorization_codes (
                digest BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(digest) = 32),
                grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
                redirect_uri TEXT NOT NULL,
                redirect_uri_explicit BOOLEAN NOT NULL,
                code_challenge TEXT,
                code_challenge_method TEXT CHECK (code_challenge_method IN ('S256', 'plain')),
                expires_at BIGINT NOT NULL,
                consumed_at BIGINT,
                CHECK ((code_challenge IS NULL) = (code_challenge_method IS NULL))
            )
            ;
            CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at)
            ;
            CREATE INDEX authorization_codes_by_grant ON authorization_codes (grant_id)
            ;
            CREATE TABLE refresh_tokens (
                digest BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(digest) = 32),
                grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
                scope TEXT NOT NULL,
                issued_at BIGINT NOT NULL,
                idle_expires_at BIGINT NOT NULL,
                rotated_at BIGINT,
                successor_digest BYTEA,
                grace_used BOOLEAN NOT NULL DEFAULT FALSE
            )
            ;
            CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id)
            ;
            CREATE INDEX refresh_tokens_by_idle_expiry ON refresh_tokens (idle_expires_at)
            ;
            CREATE TABLE consents (
                user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                scope TEXT NOT NULL,
                granted_at BIGINT NOT NULL,
                PRIMARY KEY (user_id, client_id)
            )
            ;
            CREATE TABLE sessions (
                digest BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(digest) = 32),
                user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
                csrf_token TEXT NOT NULL,
                authenticated_at BIGINT,
                expires_at BIGINT NOT NULL,
                CHECK ((user_id IS NULL) = (authenticated_at IS NULL))
            )
            ;
            CREATE INDEX sessions_by_expiry ON sessions (expires_at)
            ;
            -- Failed sign-ins, counted by every instance for the rate limits (milliseconds).
            CREATE TABLE sign_in_failures (
                scope TEXT NOT NULL,
                key TEXT NOT NULL,
                failed_at BIGINT NOT NULL
            )
            ;
            CREATE INDEX sign_in_failures_by_key ON sign_in_failures (scope, key, failed_at)
            ;
            CREATE INDEX sign_in_failures_by_time ON sign_in_failures (failed_at)
            ;
            -- Bumped by triggers whenever clients, revocations or signing keys change, by
            -- any instance or the CLI; instances compare them to keep their caches exact.
            CREATE TABLE change_counters (
                name TEXT NOT NULL PRIMARY KEY CHECK (name IN ('clients', 'revocations', 'signing_keys')),
                generation BIGINT NOT NULL
            )
            ;
            INSERT INTO change_counters (name, generation) VALUES ('clients', 0), ('revocations', 0), ('signing_keys', 0)
            ;
            CREATE FUNCTION count_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE change_counters SET generation = generation + 1 WHERE name = TG_ARGV[0];
                RETURN NULL;
            END
            $$
            ;
            -- Row by row, as in SQLite: a statement that changes nothing counts nothing.
            CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE ON clients
                FOR EACH ROW EXECUTE FUNCTION count_change('clients')
            ;
            CREATE TRIGGER access_token_revoked AFTER INSERT ON revoked_access_tokens
                FOR EACH ROW EXECUTE FUNCTION count_change('revocations')
            ;
            CREATE TRIGGER grant_revoked AFTER UPDATE OF revoked_at ON grants
                FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
                EXECUTE FUNCTION count_change('revocations')
            ;
            -- Deleting a user or client takes its grants (ON DELETE CASCADE) and so their tokens.
            CREATE TRIGGER grant_deleted AFTER DELETE ON grants
                FOR EACH ROW EXECUTE FUNCTION count_change('revocations')
            ;
            CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
                FOR EACH ROW EXECUTE FUNCTION count_change('signing_keys')
            """
    )
}
