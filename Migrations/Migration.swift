/// One numbered schema migration. Once shipped, a migration is never edited:
/// a change to the schema is a new migration.
public struct Migration: Sendable {
    /// A stable identifier, `NNNN_what`, applied in order.
    public let id: String
    /// The SQL, as one script.
    public let sql: String

    public init(id: String, sql: String) {
        self.id = id
        self.sql = sql
    }
}
