import Logging
import Synchronization

/// Logs failures from below the protocol (the database, the disk) once per cause and
/// then at most once a minute while it lasts, with how many requests it failed
/// meanwhile: an outage under load must not become a log line per request.
final class StorageFailureLog: Sendable {
    private struct Seen {
        var loggedAt: ContinuousClock.Instant
        var since = 0
    }

    private let logger: Logger
    private let interval: Duration
    private let seen = Mutex<[String: Seen]>([:])

    init(logger: Logger, interval: Duration = .seconds(60)) {
        self.logger = logger
        self.interval = interval
    }

    func report(_ error: any Error) {
        let cause = Self.cause(of: error)
        let now = ContinuousClock.now
        let suppressed: Int? = seen.withLock { seen in
            if var entry = seen[cause], now - entry.loggedAt < interval {
                entry.since += 1
                seen[cause] = entry
                return nil
            }
            // Causes are few (a handful of error kinds); a flood of distinct ones starts over.
            if seen.count >= 100 { seen.removeAll() }
            defer { seen[cause] = Seen(loggedAt: now) }
            return seen[cause]?.since ?? 0
        }
        guard let suppressed else { return }
        var metadata: Logger.Metadata = ["cause": "\(cause)"]
        if suppressed > 0 { metadata["failed_requests_since_last_line"] = "\(suppressed)" }
        logger.error("storage unavailable: requests answer 503 temporarily_unavailable", metadata: metadata)
    }

    /// The error without the statement it interrupted (SQLite's "... - while executing `SQL`"),
    /// so that one fault is one cause whatever query met it.
    static func cause(of error: any Error) -> String {
        let text = String(describing: error)
        guard let range = text.range(of: " - while executing") else { return text }
        return String(text[..<range.lowerBound])
    }
}
