extension SQLiteMigrations {
    /// Users, grants (one per authorization), authorization codes, rotating refresh
    /// tokens, remembered consent and browser sessions. Codes, refresh tokens and
    /// session ids are stored only as SHA-256 digests.
    static let browserFlow = Migration(
        id: "0002_browser_flow",
        sql: """
            CREATE TABLE users (
                id TEXT NOT NULL PRIMARY KEY,
                username TEXT NOT NULL UNIQUE CHECK (length(username) > 0),
                password_hash TEXT NOT NULL,
                created_at INTEGER NOT NULL
            ) STRICT;

            CREATE TABLE grants (
                id TEXT NOT NULL PRIMARY KEY,
                client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                scope TEXT NOT NULL,
                audiences TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                revoked_at INTEGER
            ) STRICT;
            CREATE INDEX grants_by_expiry ON grants (expires_at);
            CREATE INDEX grants_by_client ON grants (client_id);
            CREATE INDEX grants_by_user ON grants (user_id);

            CREATE TABLE authorization_codes (
                digest BLOB NOT NULL PRIMARY KEY CHECK (length(digest) = 32),
                grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
                redirect_uri TEXT NOT NULL,
                redirect_uri_explicit INTEGER NOT NULL CHECK (redirect_uri_explicit IN (0, 1)),
                code_challenge TEXT,
                code_challenge_method TEXT CHECK (code_challenge_method IN ('S256', 'plain')),
                expires_at INTEGER NOT NULL,
                consumed_at INTEGER,
                CHECK ((code_challenge IS NULL) = (code_challenge_method IS NULL))
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);
            CREATE INDEX authorization_codes_by_grant ON authorization_codes (grant_id);

            CREATE TABLE refresh_tokens (
                digest BLOB NOT NULL PRIMARY KEY CHECK (length(digest) = 32),
                grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
                scope TEXT NOT NULL,
                issued_at INTEGER NOT NULL,
                idle_expires_at INTEGER NOT NULL,
                rotated_at INTEGER,
                successor_digest BLOB,
                grace_used INTEGER NOT NULL DEFAULT 0 CHECK (grace_used IN (0, 1))
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);

            CREATE TABLE consents (
                user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                scope TEXT NOT NULL,
                granted_at INTEGER NOT NULL,
                PRIMARY KEY (user_id, client_id)
            ) STRICT, WITHOUT ROWID;

            CREATE TABLE sessions (
                digest BLOB NOT NULL PRIMARY KEY CHECK (length(digest) = 32),
                user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
                csrf_token TEXT NOT NULL,
                authenticated_at INTEGER,
                expires_at INTEGER NOT NULL,
                CHECK ((user_id IS NULL) = (authenticated_at IS NULL))
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX sessions_by_expiry ON sessions (expires_at);
            """
    )
}
