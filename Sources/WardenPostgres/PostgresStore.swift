import Foundation
import Logging
import Metrics
import PostgresNIO
import WardenCore
import WardenMigrations

/// The shared store: a PostgreSQL database that many stateless Warden instances use at
/// once, through PostgresNIO's connection pool. It implements every repository
/// protocol of WardenCore (see the extensions) with the same guarantees as the SQLite
/// store: each state change is one transaction that locks the rows its decision reads
/// (`SELECT ... FOR UPDATE`), so every race has exactly one winner, and the change
/// counters make every instance see a change made anywhere at once.
public final class PostgresStore: Storage, Sendable {
    /// The pool's settings.
    public struct Options: Sendable, Equatable {
        /// At most this many connections per instance.
        public var poolSize: Int
        /// Statements running longer are cancelled by the server (seconds; 0: no limit).
        public var statementTimeout: Int

        public init(poolSize: Int = 10, statementTimeout: Int = 5) {
            self.poolSize = poolSize
            self.statementTimeout = statementTimeout
        }
    }

    let pool: PostgresPool
    let logger: Logger
    private let commitDuration = Metrics.Timer(label: "warden_database_commit_duration_seconds")

    private init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// `?sslmode=disable|prefer|require`), applies pending migrations unless told not to,
    /// and hands the store to `body`. The connection pool runs for as long as `body` does
    /// (see `PostgresPool`): a failure to connect or migrate is thrown (as a `StoreError`
    /// with the server's reason) before `body` is called.
    public static func withStore<T>(
        url: String, options: Options = Options(), migrate: Bool = true, logger: Logger = Logger(label: "warden.postgres"),
        _ body: (PostgresStore) async throws -> T
    ) async throws -> T {
        // The pool's own log: its failures reach us as query errors; its warnings include
        // one about the first lease racing `run()` starting, which is harmless.
        var backgroundLogger = logger
        backgroundLogger.logLevel = .error
        let location = try PostgresURL(url)
        // Fail now, with the server's reason, rather than at the first request.
        do { try await location.probe(logger: backgroundLogger) } catch {
            throw StoreError(description: describe(error))
        }
        let pool = PostgresPool(location: location, options: options, logger: backgroundLogger)
        let store = PostgresStore(pool: pool, logger: logger)
        do {
            if migrate {
                do { try await store.migrate() } catch { throw StoreError(description: describe(error)) }
            }
            let result = try await body(store)
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }

    /// Runs `body` in one transaction on one pooled connection; an error thrown by `body`
    /// rolls it back and comes back as it was thrown. Within `PostgresPool`'s deadline unless
    /// not `bounded` (each statement still has the statement timeout).
    func transaction<T: Sendable>(bounded: Bool = true, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withChildSpan("postgresql transaction", ofKind: .client, attribute: ("db.system", "postgresql")) {
            let start = ContinuousClock.now
            defer { commitDuration.record(duration: ContinuousClock.now - start) }
            do {
                return try await pool.run(bounded: bounded) { [logger] client in
                    try await client.withTransaction(logger: logger) { connection in try await body(connection) }
                }
            } catch let error as PostgresTransactionError {
                throw error.closureError ?? error
            }
        }
    }

    /// Runs `body` on one pooled connection, outside a transaction.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withChildSpan("postgresql query", ofKind: .client, attribute: ("db.system", "postgresql")) {
            try await pool.run { try await $0.withConnection(body) }
        }
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await withChildSpan("postgresql query", ofKind: .client, attribute: ("db.system", "postgresql")) {
            try await pool.run { [logger] in try await $0.query(query, logger: logger) }
        }
    }

    public func isHealthy() async -> Bool {
        (try? await query("SELECT 1")) != nil
    }

    /// The pool closes when `withStore` returns.
    public func close() async throws {}

    public func signInFailures(scope: String, limit: Int, window: Double) -> any FailureCounting {
        PostgresSignInFailures(store: self, scope: scope, limit: limit, window: window)
    }

    /// The server's message, when there is one, rather than PostgresNIO's generic text.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return "\(underlying)" }
            return "\(error.code)"
        }
        if let error = error as? StoreError { return error.description }
        return String(describing: error)
    }
}

