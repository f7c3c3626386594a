extension SQLiteMigrations {
    /// Security events of the CLI, kept until a server logs them (`AuditLog`).
    static let auditEvents = Migration(
        id: "0007_audit_events",
        sql: """
            CREATE TABLE audit_events (
                id TEXT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                fields TEXT NOT NULL,
                occurred_at INTEGER NOT NULL
            );
            CREATE INDEX audit_events_by_time ON audit_events (occurred_at);
            """)
}
