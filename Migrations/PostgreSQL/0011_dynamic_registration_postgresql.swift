extension PostgreSQLMigrations {
    /// SQLite's 0011, in PostgreSQL's types.
    static let dynamicRegistration = Migration(
        id: "0011_dynamic_registration",
        sql: """
            ALTER TABLE clients ADD COLUMN registration_token_digest BYTEA
            ;
            ALTER TABLE clients ADD COLUMN registration_metadata TEXT
            ;
            ALTER TABLE clients ADD COLUMN metadata_document BOOLEAN NOT NULL DEFAULT FALSE
            ;
            CREATE TABLE initial_access_tokens (
                id TEXT NOT NULL PRIMARY KEY,
                digest BYTEA NOT NULL UNIQUE CHECK (octet_length(digest) = 32),
                created_at BIGINT NOT NULL,
                expires_at BIGINT,
                max_uses BIGINT CHECK (max_uses IS NULL OR max_uses > 0),
                uses BIGINT NOT NULL DEFAULT 0,
                revoked_at BIGINT
            )
            ;
            """)
}
