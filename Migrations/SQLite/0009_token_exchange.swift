extension SQLiteMigrations {
    /// RFC 8693: the audiences a client may get tokens for by exchange (a JSON array).
    static let tokenExchange = Migration(
        id: "0009_token_exchange",
        sql: """
            ALTER TABLE clients ADD COLUMN exchange_audiences TEXT NOT NULL DEFAULT '[]';
            """
    )
}
