import Foundation

/// Attempts counted per key in a sliding window: the rate limits of sign-in and client
/// authentication. An attempt is counted when it is admitted, before it is checked, so
/// that attempts in flight together cannot slip past the limit while a slow check
/// (bcrypt) runs; one that succeeds is forgiven. `FailureRateLimiter` counts in memory;
/// a shared database can count for every instance.
public protocol FailureCounting: Sendable {
    /// Counts an attempt of `key` at `now` unless `key` has reached its limit; then
    /// returns the seconds until it may try again, and counts nothing.
    func admit(_ key: String, now: Date) async throws -> Int?
    /// Takes back the attempt of `key` admitted at `admittedAt`: it succeeded.
    func forgive(_ key: String, admittedAt: Date) async throws
}

extension FailureCounting {
    /// The wait before the next attempt when `count` attempts lie in the window and the
    /// oldest of them happened at `oldest`; nil when the limit is not reached.
    public static func retryAfter(count: Int, oldest: Date?, limit: Int, window: TimeInterval, now: Date) -> Int? {
        guard count >= limit, let oldest else { return nil }
        return max(1, Int((window - now.timeIntervalSince(oldest)).rounded(.up)))
    }
}

/// Several limits an attempt must pass at once (per account from an address, per
/// account, per address): admitted by all, or counted by none.
public struct FailureLimits: Sendable {
    let limits: [(counting: any FailureCounting, key: String)]

    public init(_ limits: [(counting: any FailureCounting, key: String)]) {
        self.limits = limits
    }

    /// Admits the attempt under every limit, or returns the wait of the first that refuses
    /// (taking back what the others counted).
    public func admit(now: Date) async throws -> Int? {
        for (index, limit) in limits.enumerated() {
            guard let wait = try await limit.counting.admit(limit.key, now: now) else { continue }
            for admitted in limits[..<index] { try await admitted.counting.forgive(admitted.key, admittedAt: now) }
            return wait
        }
        return nil
    }

    /// Takes the attempt back under every limit: it succeeded.
    public func forgive(admittedAt: Date) async throws {
        for limit in limits { try await limit.counting.forgive(limit.key, admittedAt: admittedAt) }
    }
}
