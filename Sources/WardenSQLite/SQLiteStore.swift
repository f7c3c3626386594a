import Foundation
import GRDB
import Synchronization
import WardenCore
import WardenMigrations

/// The embedded store: one SQLite file in WAL mode, opened through GRDB.
/// It implements every repository protocol of WardenCore (see the extensions).
/// Every write goes through one `GroupCommitWriter`.
public final class SQLiteStore: Storage, Sendable {
    let pool: DatabasePool
    let writer: GroupCommitWriter
    /// A connection of its own for `PRAGMA data_version` (see `SQLiteStore+Changes`).
    let changeReader: DatabaseQueue
    let lastChange = Mutex<(dataVersion: Int64, generations: ChangeGenerations)?>(nil)

    /// Opens (creating if needed) the database at `path` and, unless told not to,
    /// applies pending migrations.
    public init(path: String, migrate: Bool = true, durability: Durability = .full) throws {
        // 0700 and 0600 from the start; SQLite gives its WAL and shared-memory files the
        // database file's mode.
        try PrivateFiles.createDirectory(URL(fileURLWithPath: path).deletingLastPathComponent())
        try PrivateFiles.ensure(path)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // The CLI and the server share the file: wait for the other writer instead of failing.
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB sets NORMAL when it opens a pool; this must come after.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: durability == .full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
        }
        writer = GroupCommitWriter(pool: pool)
        var readerConfiguration = configuration
        readerConfiguration.readonly = true
        changeReader = try DatabaseQueue(path: path, configuration: readerConfiguration)
        if migrate { try self.migrate() }
    }

    /// The writer's thread holds the writer, not the store: a store dropped unclosed ends it
    /// here. Without waiting: the last reference may go on that very thread.
    deinit {
        writer.stop(waiting: false)
    }

    /// Runs `body` as one all-or-nothing write, committed together with concurrent writes;
    /// traced as one span from the request's side (waiting for its batch included).
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withChildSpan("sqlite write", ofKind: .client, attribute: ("db.system", "sqlite")) { try await writer.write(body) }
    }

    /// Runs `body` on a reader connection, in one read transaction (one span).
    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await withChildSpan("sqlite read", ofKind: .client, attribute: ("db.system", "sqlite")) { try await pool.read(body) }
    }

    /// Applies pending migrations. Several processes may start on a new file at once
    /// (a server and a CLI command): GRDB's migrator reads what is applied before it
    /// takes the write lock, so the loser of that race fails on a table the winner just
    /// created. It then starts again from what is applied now.
    public func migrate() throws {
        for attempt in 1... {
            do {
                return try Self.migrator.migrate(pool)
            } catch where attempt < 5 {
                continue
            }
        }
    }

    /// Every migration id with whether it has been applied.
    public func migrationStatus() throws -> [MigrationState] {
        let applied = try pool.read { try Self.migrator.appliedIdentifiers($0) }
        return Self.migrator.migrations.map { MigrationState(id: $0, applied: applied.contains($0)) }
    }

    /// In memory: one server serves one SQLite file, and the CLI never signs in.
    public func signInFailures(scope: String, limit: Int, window: Double) -> any FailureCounting {
        FailureRateLimiter(limit: limit, window: window)
    }

    /// Whether the database answers: the change check reads it, cheaply.
    public func isHealthy() -> Bool {
        (try? currentGenerations()) != nil
    }

    /// The `synchronous` level the writer runs with.
    public func synchronousLevel() throws -> Int {
        try pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Closes the database; the store must not be used afterwards.
    public func close() throws {
        writer.stop()
        try changeReader.close()
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

