extension SQLiteMigrations {
    /// Indexes the purge and the cascading deletes need, on both backends alike:
    /// refresh tokens by idle expiry (the purge scanned the table), revoked grants (an
    /// `OR revoked_at IS NOT NULL` can use no index: the purge now asks apart, through
    /// this partial index), and consents and sessions by the user or client whose
    /// deletion takes them (their keys do not start with that column).
    static let purgeAndCascadeIndexes = Migration(
        id: "0005_purge_and_cascade_indexes",
        sql: """
            CREATE INDEX refresh_tokens_by_idle_expiry ON refresh_tokens (idle_expires_at);
            CREATE INDEX grants_revoked ON grants (revoked_at) WHERE revoked_at IS NOT NULL;
            CREATE INDEX consents_by_client ON consents (client_id);
            CREATE INDEX sessions_by_user ON sessions (user_id);
            """
    )
}
