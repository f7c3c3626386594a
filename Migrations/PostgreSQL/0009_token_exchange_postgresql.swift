extension PostgreSQLMigrations {
    /// SQLite's 0009, in PostgreSQL's types.
    static let tokenExchange = Migration(
        id: "0009_token_exchange",
        sql: """
            ALTER TABLE clients ADD COLUMN exchange_audiences TEXT NOT NULL DEFAULT '[]'
            ;
            """)
}
