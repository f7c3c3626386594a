import Foundation
import PostgresNIO
import WardenCore

/// Sign-in attempts counted in the shared database, so that the rate limit holds for
/// the account whichever instance each attempt reaches. Times are in milliseconds.
struct PostgresSignInFailures: FailureCounting {
    let store: PostgresStore
    let scope: String
    let limit: Int
    let window: Double

    func admit(_ key: String, now: Date) async throws -> Int? {
        let since = Self.milliseconds(now) - Int64(window * 1000)
        // Per key, one admission at a time across instances: count and insert are one step.
        return try await store.transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(scope + " " + key), 0))", logger: store.logger)
            let rows = try await connection.query(
                """
                SELECT count(*), min(failed_at) FROM sign_in_failures
                WHERE scope = \(scope) AND key = \(key) AND failed_at > \(since)
                """, logger: store.logger)
            for try await (count, oldest) in rows.decode((Int64, Int64?).self) {
                let oldestDate = oldest.map { Date(timeIntervalSince1970: Double($0) / 1000) }
                if let wait = Self.retryAfter(count: Int(count), oldest: oldestDate, limit: limit, window: window, now: now) { return wait }
            }
            try await connection.query(
                "INSERT INTO sign_in_failures (scope, key, failed_at) VALUES (\(scope), \(key), \(Self.milliseconds(now)))",
                logger: store.logger)
            return nil
        }
    }

    func forgive(_ key: String, admittedAt: Date) async throws {
        try await store.query(
            """
            DELETE FROM sign_in_failures WHERE ctid IN (
                SELECT ctid FROM sign_in_failures
                WHERE scope = \(scope) AND key = \(key) AND failed_at = \(Self.milliseconds(admittedAt)) LIMIT 1)
            """)
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
}
