extension PostgreSQLMigrations {
    /// SQLite's 0006, in PostgreSQL's types.
    static let openIDConnect = Migration(
        id: "0006_openid_connect",
        sql: """
            ALTER TABLE users ADD COLUMN name TEXT,
                ADD COLUMN given_name TEXT,
                ADD COLUMN family_name TEXT,
                ADD COLUMN email TEXT,
                ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE,
                ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0
            ;
            UPDATE users SET updated_at = created_at
            ;
            ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256'
                    CHECK (id_token_signed_response_alg IN ('ES256', 'RS256', 'EdDSA')),
                ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
                ADD COLUMN backchannel_logout_uri TEXT
            ;
            ALTER TABLE grants ADD COLUMN session_id TEXT, ADD COLUMN auth_time BIGINT, ADD COLUMN claims TEXT
            ;
            ALTER TABLE authorization_codes ADD COLUMN nonce TEXT
            ;
            ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT ''
            ;
            UPDATE sessions SET sid = encode(digest, 'hex')
            ;
            CREATE UNIQUE INDEX sessions_by_sid ON sessions (sid)
            ;
            CREATE INDEX grants_by_session ON grants (session_id) WHERE session_id IS NOT NULL
            ;
            CREATE TABLE backchannel_logouts (
                client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                sid TEXT NOT NULL,
                subject TEXT NOT NULL,
                attempts BIGINT NOT NULL DEFAULT 0,
                due_at BIGINT NOT NULL,
                PRIMARY KEY (client_id, sid)
            )
            ;
            CREATE INDEX backchannel_logouts_by_due ON backchannel_logouts (due_at)
            """
    )
}
