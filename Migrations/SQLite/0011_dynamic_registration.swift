extension SQLiteMigrations {
    /// RFC 7591 and 7592: clients registered over HTTP keep their registration access
    /// token's digest and descriptive metadata; initial access tokens gate registration.
    /// Clients named by a Client ID Metadata Document are kept as the document last said.
    static let dynamicRegistration = Migration(
        id: "0011_dynamic_registration",
        sql: """
            ALTER TABLE clients ADD COLUMN registration_token_digest BLOB;
            ALTER TABLE clients ADD COLUMN registration_metadata TEXT;
            ALTER TABLE clients ADD COLUMN metadata_document INTEGER NOT NULL DEFAULT 0 CHECK (metadata_document IN (0, 1));
            CREATE TABLE initial_access_tokens (
                id TEXT NOT NULL PRIMARY KEY,
                digest BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),
                created_at INTEGER NOT NULL,
                expires_at INTEGER,
                max_uses INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
                uses INTEGER NOT NULL DEFAULT 0,
                revoked_at INTEGER
            ) STRICT;
            """
    )
}
