import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: SessionRepository {
    public func session(digest: [UInt8], at now: Date) async throws -> BrowserSession? {
        let rows = try await query(
            """
            SELECT user_id, csrf_token, authenticated_at, expires_at FROM sessions
            WHERE digest = \(ByteBuffer(bytes: digest)) AND expires_at > \(now.unixSeconds)
            """)
        for try await (userID, csrfToken, authenticatedAt, expiresAt) in rows.decode((String?, String, Int64?, Int64).self) {
            return BrowserSession(
                digest: digest, userID: userID, csrfToken: csrfToken, authenticatedAt: authenticatedAt.map(Date.init(unixSeconds:)),
                expiresAt: Date(unixSeconds: expiresAt))
        }
        return nil
    }

    public func insert(_ session: BrowserSession) async throws {
        try await query(
            """
            INSERT INTO sessions (digest, user_id, csrf_token, authenticated_at, expires_at)
            VALUES (\(ByteBuffer(bytes: session.digest)), \(session.userID), \(session.csrfToken),
                \(session.authenticatedAt?.unixSeconds), \(session.expiresAt.unixSeconds))
            """)
    }

    public func replaceCSRFToken(digest: [UInt8], old: String, new: String) async throws -> Bool {
        try await returnsRow(
            query(
                """
                UPDATE sessions SET csrf_token = \(new) WHERE digest = \(ByteBuffer(bytes: digest)) AND csrf_token = \(old)
                RETURNING 1
                """))
    }

    public func deleteSession(digest: [UInt8]) async throws {
        try await query("DELETE FROM sessions WHERE digest = \(ByteBuffer(bytes: digest))")
    }
}
