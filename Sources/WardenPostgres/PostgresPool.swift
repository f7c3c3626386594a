import Foundation
import Logging
import PostgresNIO
import _ConnectionPoolModule  // ConnectionPoolError: the pool gave up waiting for a connection
import Synchronization
import WardenCore
import WardenMigrations

/// PostgresNIO's connection pool, bounded in time and replaced after an outage
/// (OPERATIONS.md: while PostgreSQL is down, an answer within the statement timeout plus
/// a second; once it is back, service again within 5 s, without a restart).
///
/// Left alone, PostgresNIO's pool keeps a request waiting for a connection until its
/// circuit breaker trips (a minute), and after failures retries with a backoff that grows
/// to a minute. So every use here waits at most `deadline`; a use that fails for want of a
/// connection starts a probe that connects every half second, and once PostgreSQL
/// answers, a fresh pool replaces the failing one, whose next attempt may be far off.
final class PostgresPool: Sendable {
    private struct State {
        var client: PostgresClient
        var runner: Task<Void, Never>
        var recovering = false
        var closed = false
    }

    /// The deadline ran out: PostgreSQL did not answer in time.
    struct DeadlineExceeded: Error, CustomStringConvertible {
        let deadline: Duration
        var description: String { "PostgreSQL did not answer within \(deadline)" }
    }

    private let location: PostgresURL
    private let options: PostgresStore.Options
    private let logger: Logger
    /// How long one use may take, waiting for a connection included; nil: unbounded.
    let deadline: Duration?
    private let state: Mutex<State>

    init(location: PostgresURL, options: PostgresStore.Options, logger: Logger) {
        self.location = location
        self.options = options
        self.logger = logger
        // A statement may run for the whole statement timeout; the answer comes within a second after.
        deadline = options.statementTimeout > 0 ? .seconds(options.statementTimeout) + .milliseconds(750) : nil
        state = Mutex(Self.start(location: location, options: options, logger: logger))
    }

    private static func start(location: PostgresURL, options: PostgresStore.Options, logger: Logger) -> State {
        let client = PostgresClient(configuration: location.clientConfiguration(options), backgroundLogger: logger)
        return State(client: client, runner: Task { await client.run() })
    }

    /// The current pool, for what may take as long as it takes (migrations).
    var client: PostgresClient { state.withLock { $0.client } }

    /// Runs `body` with the current pool, within the deadline. When the deadline passes,
    /// `body` is cancelled and left behind (a connection lease PostgresNIO cannot abandon
    /// must not hold the request), and `DeadlineExceeded` is thrown.
    /// `bounded: false` for work of many statements that may take long as a whole (an import).
    func run<T: Sendable>(bounded: Bool = true, _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = state.withLock { $0.client }
        do {
            guard let deadline, bounded else { return try await body(client) }
            return try await Self.race(deadline: deadline) { try await body(client) }
        } catch {
            if Self.isUnavailability(error) { recover(from: client) }
            throw error
        }
    }

    /// Ends the pool; a pool that does not stop within two seconds is left to the process's end.
    func close() async {
        let runner = state.withLock { state in
            state.closed = true
            return state.runner
        }
        runner.cancel()
        _ = try? await Self.race(deadline: .seconds(2)) { await runner.value }
    }

    /// `work`'s result, or `DeadlineExceeded` once `deadline` has passed, whichever comes first.
    private static func race<T: Sendable>(deadline: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // Cancelled already (the handler below ran first): nothing is started.
                guard race.begin(continuation) else { return continuation.resume(throwing: CancellationError()) }
                race.add(Task { do { race.finish(.success(try await work())) } catch { race.finish(.failure(error)) } })
                race.add(Task {
                    guard (try? await Task.sleep(for: deadline)) != nil else { return }
                    race.finish(.failure(DeadlineExceeded(deadline: deadline)))
                })
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    /// The first of a worker and a timer to finish resumes the caller and cancels the other.
    private final class Race<T: Sendable>: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, tasks: [Task<Void, Never>], over: Bool)>((nil, [], false))

        /// Takes the caller's continuation; false if the race is over before it began.
        func begin(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
            state.withLock { state in
                guard !state.over else { return false }
                state.continuation = continuation
                return true
            }
        }

        func add(_ task: Task<Void, Never>) {
            let over = state.withLock { state in
                state.tasks.append(task)
                return state.over
            }
            if over { task.cancel() }
        }

        func finish(_ result: Result<T, any Error>) {
            let (continuation, tasks) = state.withLock { state in
                defer { state.continuation = nil; state.over = true }
                return (state.continuation, state.tasks)
            }
            guard let continuation else { return }
            for task in tasks { task.cancel() }
            continuation.resume(with: result)
        }
    }

    /// Probes PostgreSQL every half second until it answers, then puts a fresh pool in
    /// place of `failed` unless `failed` itself works again by then. Once at a time.
    private func recover(from failed: PostgresClient) {
        let starting = state.withLock { state in
            guard !state.recovering, !state.closed, state.client === failed else { return false }
            state.recovering = true
            return true
        }
        guard starting else { return }
        Task { [self] in
            while !state.withLock(\.closed) {
                try? await Task.sleep(for: .milliseconds(500))
                guard (try? await location.probe(logger: logger)) != nil else { continue }
                let stillWorks = (try? await Self.race(deadline: .seconds(1)) { try await failed.query("SELECT 1", logger: self.logger) }) != nil
                let replaced: Task<Void, Never>? = state.withLock { state in
                    defer { state.recovering = false }
                    guard !stillWorks, !state.closed else { return nil }
                    let old = state.runner
                    state = Self.start(location: location, options: options, logger: logger)
                    return old
                }
                replaced?.cancel()
                if replaced != nil { logger.notice("PostgreSQL answers again: a new connection pool replaced the failed one") }
                return
            }
        }
    }

    /// Whether `error` says PostgreSQL could not be reached, rather than refusing a statement:
    /// no connection, a connection lost, the server shutting down, the deadline passed.
    static func isUnavailability(_ error: any Error) -> Bool {
        switch error {
        case is DeadlineExceeded, is ConnectionPoolError: return true
        case let error as PostgresTransactionError:
            return [error.beginError, error.closureError, error.commitError].contains { $0.map(isUnavailability) ?? false }
        case let error as PSQLError:
            if error.code == .server {
                // Class 08: connection exception; 57: operator intervention (shutdown); 53: insufficient resources.
                let state = error.serverInfo?[.sqlState] ?? ""
                return ["08", "57", "53"].contains { state.hasPrefix($0) }
            }
            return [.connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown].contains(error.code)
        default: return false
        }
    }
}
