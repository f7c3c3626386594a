import Foundation
import PostgresNIO
import WardenCore

/// Failed sign-ins counted in the shared database, so that the rate limit holds for
/// the account whichever instance each attempt reaches. Times are in milliseconds.
struct PostgresSignInFailures: FailureCounting {
    let store: PostgresStore
    let scope: String
    let limit: Int
    let window: Double

    func retryAfter(_ key: String, now: Date) async throws -> Int? {
        let since = Self.milliseconds(now) - Int64(window * 1000)
        let rows = try await store.query(
            "SELECT count(*), min(failed_at) FROM sign_in_failures WHERE scope = \(scope) AND key = \(key) AND failed_at > \(since)")
        for try await (count, oldest) in rows.decode((Int64, Int64?).self) {
            let oldestDate = oldest.map { Date(timeIntervalSince1970: Double($0) / 1000) }
            return Self.retryAfter(count: Int(count), oldest: oldestDate, limit: limit, window: window, now: now)
        }
        return nil
    }

    func recordFailure(_ key: String, now: Date) async throws {
        try await store.query("INSERT INTO sign_in_failures (scope, key, failed_at) VALUES (\(scope), \(key), \(Self.milliseconds(now)))")
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
}
