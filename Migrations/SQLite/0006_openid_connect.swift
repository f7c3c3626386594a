extension SQLiteMigrations {
    /// OpenID Connect: user profiles, the clients' ID token algorithm and logout URIs,
    /// what a grant needs to issue ID tokens (its session, `auth_time`, `claims`
    /// request; its code's `nonce`), the sessions' public `sid`, and the queue of
    /// back-channel logouts, keyed by client and session so that each is sent once.
    static let openIDConnect = Migration(
        id: "0006_openid_connect",
        sql: """
            ALTER TABLE users ADD COLUMN name TEXT;
            ALTER TABLE users ADD COLUMN given_name TEXT;
            ALTER TABLE users ADD COLUMN family_name TEXT;
            ALTER TABLE users ADD COLUMN email TEXT;
            ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
            ALTER TABLE users ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
            UPDATE users SET updated_at = created_at;
            ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256'
                CHECK (id_token_signed_response_alg IN ('ES256', 'RS256', 'EdDSA'));
            ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
            ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
            ALTER TABLE grants ADD COLUMN session_id TEXT;
            ALTER TABLE grants ADD COLUMN auth_time INTEGER;
            ALTER TABLE grants ADD COLUMN claims TEXT;
            ALTER TABLE authorization_codes ADD COLUMN nonce TEXT;
            ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
            UPDATE sessions SET sid = lower(hex(digest));
            CREATE UNIQUE INDEX sessions_by_sid ON sessions (sid);
            CREATE INDEX grants_by_session ON grants (session_id) WHERE session_id IS NOT NULL;
            CREATE TABLE backchannel_logouts (
                client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                sid TEXT NOT NULL,
                subject TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                due_at INTEGER NOT NULL,
                PRIMARY KEY (client_id, sid)
            );
            CREATE INDEX backchannel_logouts_by_due ON backchannel_logouts (due_at);
            """
    )
}
