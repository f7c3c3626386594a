import Foundation
import Synchronization

/// Counts attempts (logins, client authentications) per key in a sliding window, in
/// memory. Nothing is permanent: a key is free again once its attempts are a window
/// old. Memory is bounded whatever an attacker sends: callers cap key length, each key
/// keeps at most `limit` times, and past `capacity` keys the oldest key is forgotten;
/// `sweep` (run on a timer) drops keys whose attempts have all aged out.
public final class FailureRateLimiter: FailureCounting {
    /// Attempts allowed per key in `window` seconds.
    public let limit: Int
    public let window: TimeInterval
    /// Keys remembered at most.
    public let capacity: Int

    private struct State {
        /// Each key's attempts in the window, oldest first.
        var attempts: [String: [Date]] = [:]
        /// Keys in the order they were first counted, from `head` on, for eviction.
        var order: [String] = []
        var head = 0
    }

    private let state = Mutex(State())

    public init(limit: Int, window: TimeInterval = 60, capacity: Int = 50_000) {
        self.limit = limit
        self.window = window
        self.capacity = capacity
    }

    public func admit(_ key: String, now: Date) -> Int? {
        state.withLock { state in
            var recent = (state.attempts[key] ?? []).filter { now.timeIntervalSince($0) < window }
            if let wait = Self.retryAfter(count: recent.count, oldest: recent.first, limit: limit, window: window, now: now) {
                state.attempts[key] = recent
                return wait
            }
            if state.attempts[key] == nil { state.order.append(key) }
            recent.append(now)
            state.attempts[key] = recent
            Self.evict(&state, beyond: capacity)
            return nil
        }
    }

    public func forgive(_ key: String, admittedAt: Date) {
        state.withLock { state in
            guard let index = state.attempts[key]?.lastIndex(of: admittedAt) else { return }
            state.attempts[key]?.remove(at: index)
            if state.attempts[key]?.isEmpty == true { state.attempts[key] = nil }
        }
    }

    /// Forgets keys whose attempts have all aged out.
    public func sweep(now: Date) {
        state.withLock { state in
            state.attempts = state.attempts.filter { $0.value.contains { now.timeIntervalSince($0) < window } }
            state.order = state.order[state.head...].filter { state.attempts[$0] != nil }
            state.head = 0
        }
    }

    /// How many keys are remembered.
    public var count: Int { state.withLock { $0.attempts.count } }

    private static func evict(_ state: inout State, beyond capacity: Int) {
        while state.attempts.count > capacity, state.head < state.order.count {
            state.attempts[state.order[state.head]] = nil
            state.head += 1
        }
        // Drop the evicted prefix once it is half the queue: amortized O(1) per key.
        if state.head > 1024, state.head * 2 > state.order.count {
            state.order.removeFirst(state.head)
            state.head = 0
        }
    }
}
