extension SQLiteMigrations {
    /// Authorization codes become a rowid table, with the digest as a unique index.
    /// Keyed by their random digest, the rows of codes issued one after another lay on
    /// random pages, and marking each redeemed code consumed dirtied a page of its own in
    /// every group commit. In issue order, codes redeemed together share pages; the digest
    /// index is not touched by that update.
    static let codesInIssueOrder = Migration(
        id: "0004_codes_in_issue_order",
        sql: """
            CREATE TABLE authorization_codes_in_issue_order (
                id INTEGER PRIMARY KEY,
                digest BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),
                grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
                redirect_uri TEXT NOT NULL,
                redirect_uri_explicit INTEGER NOT NULL CHECK (redirect_uri_explicit IN (0, 1)),
                code_challenge TEXT,
                code_challenge_method TEXT CHECK (code_challenge_method IN ('S256', 'plain')),
                expires_at INTEGER NOT NULL,
                consumed_at INTEGER,
                CHECK ((code_challenge IS NULL) = (code_challenge_method IS NULL))
            ) STRICT;
            INSERT INTO authorization_codes_in_issue_order (digest, grant_id, redirect_uri, redirect_uri_explicit,
                code_challenge, code_challenge_method, expires_at, consumed_at)
            SELECT digest, grant_id, redirect_uri, redirect_uri_explicit, code_challenge, code_challenge_method,
                expires_at, consumed_at
            FROM authorization_codes ORDER BY expires_at;
            DROP TABLE authorization_codes;
            ALTER TABLE authorization_codes_in_issue_order RENAME TO authorization_codes;
            CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);
            CREATE INDEX authorization_codes_by_grant ON authorization_codes (grant_id);
            """
    )
}
