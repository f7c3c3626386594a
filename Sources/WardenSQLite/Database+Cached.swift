import GRDB

extension Database {
    /// Executes `sql` as a statement prepared once per connection (GRDB's statement
    /// cache): after its first run a query skips SQLite's compiler and GRDB's
    /// authorizer, which together cost more than the query on the hot paths.
    func executeCached(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
