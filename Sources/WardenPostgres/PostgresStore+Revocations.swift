import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: RevocationRepository {
    public func revoke(jwtID: String, clientID: String, expiresAt: Date) async throws {
        try await query(
            """
            INSERT INTO revoked_access_tokens (jti, client_id, expires_at) VALUES (\(jwtID), \(clientID), \(expiresAt.unixSeconds))
            ON CONFLICT (jti) DO NOTHING
            """)
    }

    public func isRevoked(jwtID: String) async throws -> Bool {
        try await returnsRow(query("SELECT 1 FROM revoked_access_tokens WHERE jti = \(jwtID)"))
    }

    public func purgeRevocations(expiredBefore date: Date, limit: Int) async throws -> Int {
        try await query(
            """
            DELETE FROM revoked_access_tokens
            WHERE jti IN (SELECT jti FROM revoked_access_tokens WHERE expires_at < \(date.unixSeconds) LIMIT \(limit))
            RETURNING 1
            """
        ).collect().count
    }
}
