extension PostgreSQLMigrations {
    /// SQLite's 0007, in PostgreSQL's types.
    static let auditEvents = Migration(
        id: "0007_audit_events",
        sql: """
            CREATE TABLE audit_events (
                id TEXT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                fields TEXT NOT NULL,
                occurred_at BIGINT NOT NULL
            )
            ;
            CREATE INDEX audit_events_by_time ON audit_events (occurred_at)
            ;
            """)
}
