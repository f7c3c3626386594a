import Foundation
import GRDB
import Testing
import WardenServer
import WardenSQLite

@Suite("Migrations")
struct MigrationTests {
    @Test("an empty file migrates in order to a sound database in WAL mode (SchemaTests hold its shape)")
    func fromEmpty() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-mig-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("nested/warden.sqlite").path
        let unmigrated = try SQLiteStore(path: path, migrate: false)
        #expect(try unmigrated.migrationStatus().allSatisfy { !$0.applied })
        try unmigrated.migrate()
        #expect(
            try unmigrated.migrationStatus().map(\.id) == [
                "0001_initial", "0002_browser_flow", "0003_change_counters", "0004_codes_in_issue_order",
                "0005_purge_and_cascade_indexes", "0006_openid_connect", "0007_audit_events",
                "0008_proof_of_possession", "0009_token_exchange", "0010_device_authorization",
                "0011_dynamic_registration",
            ])
        #expect(try unmigrated.migrationStatus().allSatisfy(\.applied))
        try unmigrated.close()

        let queue = try DatabaseQueue(path: path)
        let tables = try await queue.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") }
        #expect(tables.contains("clients") && tables.contains("signing_keys") && tables.contains("revoked_access_tokens"))
        let journal = try await queue.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(journal == "wal")
        #expect(try await queue.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok")
    }

    @Test("five processes starting at once apply each migration exactly once", arguments: Backend.allCases)
    func concurrentStarts(_ backend: Backend) async throws {
        try await withTemporaryDatabase(backend) { database in
            let configuration = WardenConfiguration.with(database: database)
            try await configuration.withStorage(migrate: false) { unmigrated in
                #expect(try await unmigrated.migrationStatus().allSatisfy { !$0.applied })
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<5 {
                        group.addTask { try await configuration.withStorage { _ in } }
                    }
                    try await group.waitForAll()
                }
                let status = try await unmigrated.migrationStatus()
                #expect(!status.isEmpty && status.allSatisfy(\.applied))
                #expect(try await rows("clients", in: unmigrated).isEmpty)
                #expect(await unmigrated.isHealthy())
            }
        }
    }
}
