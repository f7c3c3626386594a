import Foundation
import PostgresNIO
import Synchronization
import Testing
import WardenCore
import WardenMigrations
import WardenPostgres
import WardenServer

/// The storage backends every store test runs against, from the same test code.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

/// Where the throwaway PostgreSQL cluster is (`make test` starts one and sets it).
let postgresAdminURL = ProcessInfo.processInfo.environment["WARDEN_TEST_POSTGRES_URL"]

struct MissingPostgres: Error, CustomStringConvertible {
    let description = "WARDEN_TEST_POSTGRES_URL is not set: run `make test`, or `Tests/Support/with-postgres.sh swift test`"
}

/// A fresh store of `backend` (a new SQLite file, or a new PostgreSQL database), removed afterwards.
func withTemporaryStore<T>(_ backend: Backend, _ body: (any WardenStorage) async throws -> T) async throws -> T {
    try await withTemporaryDatabase(backend) { database in
        try await WardenConfiguration.with(database: database).withStorage(body)
    }
}

/// A new, empty database of `backend` named by its configuration value, removed afterwards.
func withTemporaryDatabase<T>(_ backend: Backend, _ body: (String) async throws -> T) async throws -> T {
    switch backend {
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-store-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(directory.appendingPathComponent("warden.sqlite").path)
    case .postgres:
        guard let admin = postgresAdminURL else { throw MissingPostgres() }
        let name = "warden_test_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        try await administer(admin, "CREATE DATABASE \(name)")
        var url = try #require(URLComponents(string: admin))
        url.path = "/\(name)"
        let result: T
        do {
            result = try await body(try #require(url.string))
        } catch {
            try? await administer(admin, "DROP DATABASE \(name) WITH (FORCE)")
            throw error
        }
        try await administer(admin, "DROP DATABASE \(name) WITH (FORCE)")
        return result
    }
}

/// Runs one statement on the cluster's admin database.
func administer(_ admin: String, _ sql: String) async throws {
    let url = try #require(URLComponents(string: admin))
    let configuration = PostgresClient.Configuration(
        host: url.host ?? "127.0.0.1", port: url.port ?? 5432, username: url.user ?? "postgres", password: url.password,
        database: String(url.path.dropFirst()), tls: .disable)
    let client = PostgresClient(configuration: configuration)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        try await client.query(PostgresQuery(unsafeSQL: sql))
        group.cancelAll()
    }
}

/// The rows of `table` by column name, read through the export: a look at what is
/// stored that works the same on every backend.
func rows(_ table: String, in store: any WardenStorage) async throws -> [[String: ExportValue]] {
    let table = try #require(ExportSchema.table(named: table))
    let collected = Collected()
    try await store.exportRows(of: table) { values in
        collected.append(Dictionary(uniqueKeysWithValues: zip(table.columns.map(\.name), values)))
    }
    return collected.rows
}

private final class Collected: Sendable {
    private let storage = Mutex<[[String: ExportValue]]>([])
    func append(_ row: [String: ExportValue]) { storage.withLock { $0.append(row) } }
    var rows: [[String: ExportValue]] { storage.withLock { $0 } }
}

extension WardenConfiguration {
    static func with(database: String) -> WardenConfiguration {
        var configuration = WardenConfiguration()
        configuration.database = database
        return configuration
    }
}
