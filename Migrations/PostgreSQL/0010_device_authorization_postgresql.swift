extension PostgreSQLMigrations {
    /// SQLite's 0010, in PostgreSQL's types.
    static let deviceAuthorization = Migration(
        id: "0010_device_authorization",
        sql: """
            CREATE TABLE device_authorizations (
                device_code_digest BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(device_code_digest) = 32),
                user_code TEXT NOT NULL UNIQUE CHECK (length(user_code) = 8),
                client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                scope TEXT NOT NULL,
                audiences TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                poll_interval INTEGER NOT NULL CHECK (poll_interval > 0),
                last_polled_at BIGINT,
                denied BOOLEAN NOT NULL DEFAULT FALSE,
                grant_id TEXT REFERENCES grants (id) ON DELETE CASCADE,
                redeemed_at BIGINT,
                CHECK (NOT denied OR grant_id IS NULL),
                CHECK (redeemed_at IS NULL OR grant_id IS NOT NULL)
            )
            ;
            CREATE INDEX device_authorizations_by_expiry ON device_authorizations (expires_at)
            ;
            CREATE INDEX device_authorizations_by_client ON device_authorizations (client_id)
            ;
            CREATE INDEX device_authorizations_by_grant ON device_authorizations (grant_id)
            ;
            """)
}
