import Foundation
import Logging
import WardenCore
import WardenMigrations
import WardenPostgres
import WardenSQLite

/// A store the server and the CLI can use for everything, including export and import.
public typealias WardenStorage = Storage & RowCopying

/// Where the configuration's `database` points: a SQLite file or a PostgreSQL database.
public enum DatabaseLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(url: String)

    public init(_ database: String) {
        if database.hasPrefix("postgres://") || database.hasPrefix("postgresql://") {
            self = .postgres(url: database)
        } else if database.hasPrefix("sqlite:") {
            self = .sqlite(path: String(database.dropFirst("sqlite:".count)))
        } else {
            self = .sqlite(path: database)
        }
    }

    /// Where files that belong beside the database go (the demo's key and credentials):
    /// the SQLite file's directory, or `data/` for a database elsewhere.
    public var localDirectory: URL {
        switch self {
        case .sqlite(let path): URL(fileURLWithPath: path).deletingLastPathComponent()
        case .postgres: URL(fileURLWithPath: "data", isDirectory: true)
        }
    }

    /// For messages: the file, or the URL without its password.
    public var displayName: String {
        switch self {
        case .sqlite(let path): return path
        case .postgres(let url):
            guard var components = URLComponents(string: url), components.password != nil else { return url }
            components.password = "***"
            return components.string ?? "postgres://"
        }
    }
}

extension WardenConfiguration {
    /// Where `database` points.
    public var databaseLocation: DatabaseLocation { DatabaseLocation(database) }

    /// Opens the configured database, applies pending migrations unless told not to,
    /// hands the store to `body` and closes it afterwards. A failure to open is a
    /// `StoreError` thrown before `body` runs.
    public func withStorage<T>(
        migrate: Bool = true, logger: Logger = Logger(label: "warden.store"), _ body: (any WardenStorage) async throws -> T
    ) async throws -> T {
        switch databaseLocation {
        case .sqlite(let path):
            let store = try SQLiteStore(path: path, migrate: migrate, durability: databaseDurability)
            do {
                let result = try await body(store)
                try store.close()
                return result
            } catch {
                try? store.close()
                throw error
            }
        case .postgres(let url):
            return try await PostgresStore.withStore(
                url: url, options: .init(poolSize: databasePoolSize, statementTimeout: databaseStatementTimeout), migrate: migrate,
                logger: logger, body)
        }
    }
}
