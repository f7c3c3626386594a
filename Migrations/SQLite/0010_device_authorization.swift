extension SQLiteMigrations {
    /// RFC 8628: device authorization requests, from the device's first request to the
    /// poll that redeems them. The grant is created when the person approves.
    static let deviceAuthorization = Migration(
        id: "0010_device_authorization",
        sql: """
            CREATE TABLE device_authorizations (
                device_code_digest BLOB NOT NULL PRIMARY KEY CHECK (length(device_code_digest) = 32),
                user_code TEXT NOT NULL UNIQUE CHECK (length(user_code) = 8),
                client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                scope TEXT NOT NULL,
                audiences TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                poll_interval INTEGER NOT NULL CHECK (poll_interval > 0),
                last_polled_at INTEGER,
                denied INTEGER NOT NULL DEFAULT 0 CHECK (denied IN (0, 1)),
                grant_id TEXT REFERENCES grants (id) ON DELETE CASCADE,
                redeemed_at INTEGER,
                CHECK (denied = 0 OR grant_id IS NULL),
                CHECK (redeemed_at IS NULL OR grant_id IS NOT NULL)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX device_authorizations_by_expiry ON device_authorizations (expires_at);
            CREATE INDEX device_authorizations_by_client ON device_authorizations (client_id);
            CREATE INDEX device_authorizations_by_grant ON device_authorizations (grant_id);
            """
    )
}
