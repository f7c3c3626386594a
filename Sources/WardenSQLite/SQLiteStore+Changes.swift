import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: ChangeTracking {
    /// The change counters (migration 0003), read only when `PRAGMA data_version` says
    /// that some other connection (this process's writer, the CLI, another process)
    /// committed since the last call; otherwise answered from memory. Synchronous and
    /// table-free in the common case, so hot paths can call it on every request.
    public func currentGenerations() throws -> ChangeGenerations {
        try changeReader.inDatabase { db in
            let dataVersion = try Int64.fetchOne(try db.cachedStatement(sql: "PRAGMA data_version")) ?? 0
            if let last = lastChange.withLock({ $0 }), last.dataVersion == dataVersion { return last.generations }
            var counters: [String: Int64] = [:]
            for row in try Row.fetchAll(try db.cachedStatement(sql: "SELECT name, generation FROM change_counters")) {
                counters[row["name"]] = row["generation"]
            }
            let generations = ChangeGenerations(counters: counters)
            lastChange.withLock { $0 = (dataVersion, generations) }
            return generations
        }
    }
}
