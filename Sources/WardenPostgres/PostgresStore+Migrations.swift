import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore {
    /// The advisory lock under which migrations run, so that instances starting
    /// together apply each migration once ("WARDEN" in ASCII).
    static let migrationLock: Int64 = 0x57_41_52_44_45_4E

    /// Applies pending migrations, each in its own transaction, under the advisory lock.
    public func migrate() async throws {
        try await pool.client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.migrationLock))", logger: logger)
            do {
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS warden_migrations (id TEXT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)",
                    logger: logger)
                let applied = try await Self.appliedMigrations(connection, logger: logger)
                for migration in PostgreSQLMigrations.all where !applied.contains(migration.id) {
                    try await connection.withTransaction(logger: logger) { connection in
                        for statement in Self.statements(migration.sql) {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query(
                            "INSERT INTO warden_migrations (id, applied_at) VALUES (\(migration.id), \(Date().unixSeconds))", logger: logger)
                    }
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
                throw StoreError(description: Self.describe((error as? PostgresTransactionError)?.closureError ?? error))
            }
            try await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
        }
    }

    public func migrationStatus() async throws -> [MigrationState] {
        let applied = try await pool.client.withConnection { try await Self.appliedMigrations($0, logger: logger) }
        return PostgreSQLMigrations.all.map { MigrationState(id: $0.id, applied: applied.contains($0.id)) }
    }

    static func appliedMigrations(_ connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        let exists = try await connection.query("SELECT to_regclass('warden_migrations') IS NOT NULL", logger: logger)
        for try await present in exists.decode(Bool.self) where !present { return [] }
        var applied: Set<String> = []
        for try await id in try await connection.query("SELECT id FROM warden_migrations", logger: logger).decode(String.self) {
            applied.insert(id)
        }
        return applied
    }

    /// A migration's statements: the extended protocol takes one at a time, and the
    /// migrations separate theirs with a line holding only `;`.
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current: [Substring] = []
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces) == ";" {
                statements.append(current.joined(separator: "\n"))
                current = []
            } else {
                current.append(line)
            }
        }
        let last = current.joined(separator: "\n")
        if !last.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { statements.append(last) }
        return statements
    }
}
