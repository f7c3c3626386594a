import Foundation
import Synchronization

/// Counts failures (logins, client authentication) per key in a sliding minute and
/// says when to stop accepting attempts. Nothing is permanent: a key is free again
/// once its failures are a minute old, so an attacker cannot lock a real user out for good.
public final class FailureRateLimiter: FailureCounting {
    /// Failures allowed per key in `window` seconds.
    public let limit: Int
    public let window: TimeInterval
    private let failures = Mutex<[String: [Date]]>([:])

    public init(limit: Int, window: TimeInterval = 60) {
        self.limit = limit
        self.window = window
    }

    /// Seconds until `key` may try again, or nil when it may try now.
    public func retryAfter(_ key: String, now: Date) -> Int? {
        failures.withLock { failures in
            let recent = (failures[key] ?? []).filter { now.timeIntervalSince($0) < window }
            failures[key] = recent.isEmpty ? nil : recent
            return Self.retryAfter(count: recent.count, oldest: recent.first, limit: limit, window: window, now: now)
        }
    }

    /// Records a failure of `key`.
    public func recordFailure(_ key: String, now: Date) {
        failures.withLock { failures in
            var recent = (failures[key] ?? []).filter { now.timeIntervalSince($0) < window }
            recent.append(now)
            failures[key] = recent
            // Bound memory under a flood of distinct keys: forget keys with nothing recent.
            if failures.count > 100_000 {
                failures = failures.filter { $0.value.contains { now.timeIntervalSince($0) < window } }
            }
        }
    }
}
