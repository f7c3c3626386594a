import Foundation

/// Failures counted per key in a sliding window: the rate limits of sign-in.
/// `FailureRateLimiter` counts in memory; a shared database can count for every instance.
public protocol FailureCounting: Sendable {
    /// Seconds until `key` may try again, or nil when it may try now.
    func retryAfter(_ key: String, now: Date) async throws -> Int?
    /// Records a failure of `key`.
    func recordFailure(_ key: String, now: Date) async throws
}

extension FailureCounting {
    /// The wait before the next attempt when `count` failures lie in the window and the
    /// oldest of them happened at `oldest`; nil when the limit is not reached.
    public static func retryAfter(count: Int, oldest: Date?, limit: Int, window: TimeInterval, now: Date) -> Int? {
        guard count >= limit, let oldest else { return nil }
        return max(1, Int((window - now.timeIntervalSince(oldest)).rounded(.up)))
    }
}
