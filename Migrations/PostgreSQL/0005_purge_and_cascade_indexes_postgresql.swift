extension PostgreSQLMigrations {
    /// SQLite's 0005 less the idle-expiry index, which 0001 already made here: the
    /// revoked grants the purge looks for, and consents and sessions by the client or
    /// user whose deletion takes them.
    static let purgeAndCascadeIndexes = Migration(
        id: "0005_purge_and_cascade_indexes",
        sql: """
            CREATE INDEX grants_revoked ON grants (revoked_at) WHERE revoked_at IS NOT NULL
            ;
            CREATE INDEX consents_by_client ON consents (client_id)
            ;
            CREATE INDEX sessions_by_user ON sessions (user_id)
            """
    )
}
