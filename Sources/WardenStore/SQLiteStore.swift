import Foundation
import GRDB
import WardenMigrations

/// The embedded store: one SQLite file in WAL mode, opened through GRDB.
/// It implements every repository protocol of WardenCore (see the extensions).
public final class SQLiteStore: Sendable {
    let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and, unless told not to,
    /// applies pending migrations.
    public init(path: String, migrate: Bool = true) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(description: "cannot create the directory \(directory.path)")
        }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // The CLI and the server share the file: wait for the other writer instead of failing.
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        if migrate { try self.migrate() }
    }

    /// Applies pending migrations.
    public func migrate() throws {
        try Self.migrator.migrate(pool)
    }

    /// Every migration id with whether it has been applied.
    public func migrationStatus() throws -> [(id: String, applied: Bool)] {
        let applied = try pool.read { try Self.migrator.appliedIdentifiers($0) }
        return Self.migrator.migrations.map { ($0, applied.contains($0)) }
    }

    /// Whether the database answers a trivial query.
    public func isHealthy() async -> Bool {
        (try? await pool.read { try Int.fetchOne($0, sql: "SELECT 1") }) == 1
    }

    /// Closes the database; the store must not be used afterwards.
    public func close() throws {
        try pool.close()
    }

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        for migration in SQLiteMigrations.all {
            migrator.registerMigration(migration.id) { db in try db.execute(sql: migration.sql) }
        }
        return migrator
    }()
}

/// A store failure described in one line for an operator.
public struct StoreError: Error, CustomStringConvertible {
    public let description: String
}

extension Date {
    /// Unix seconds, as the schema stores times.
    var unixSeconds: Int64 { Int64(timeIntervalSince1970.rounded(.down)) }
    init(unixSeconds: Int64) { self.init(timeIntervalSince1970: TimeInterval(unixSeconds)) }
}
