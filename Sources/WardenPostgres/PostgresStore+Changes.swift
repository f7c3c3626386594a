import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: ChangeTracking {
    /// The change counters, read on every call: one primary-key scan of a three-row
    /// table, so that a change committed through any instance or the CLI shows here at once.
    public func currentGenerations() async throws -> ChangeGenerations {
        var counters: [String: Int64] = [:]
        for try await (name, generation) in try await query("SELECT name, generation FROM change_counters").decode((String, Int64).self) {
            counters[name] = generation
        }
        return ChangeGenerations(counters: counters)
    }
}
