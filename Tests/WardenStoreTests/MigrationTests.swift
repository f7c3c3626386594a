import Foundation
import GRDB
import Testing
import WardenStore

@Suite("Migrations")
struct MigrationTests {
    @Test("an empty file migrates to the full schema, in WAL mode with foreign keys on")
    func fromEmpty() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-mig-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("nested/warden.sqlite").path
        let unmigrated = try SQLiteStore(path: path, migrate: false)
        #expect(try unmigrated.migrationStatus().allSatisfy { !$0.applied })
        try unmigrated.migrate()
        #expect(try unmigrated.migrationStatus().map(\.id) == ["0001_initial", "0002_browser_flow", "0003_change_counters"])
        #expect(try unmigrated.migrationStatus().allSatisfy(\.applied))
        try unmigrated.close()

        let queue = try DatabaseQueue(path: path)
        let tables = try await queue.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") }
        #expect(tables.contains("clients") && tables.contains("signing_keys") && tables.contains("revoked_access_tokens"))
        let journal = try await queue.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(journal == "wal")
        #expect(try await queue.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok")
    }

    @Test("opening twice applies nothing twice")
    func idempotent() async throws {
        try await withTemporaryStore { store, path in
            let again = try SQLiteStore(path: path)
            #expect(try again.migrationStatus().allSatisfy(\.applied))
            try again.close()
            #expect(store.isHealthy())
        }
    }
}
