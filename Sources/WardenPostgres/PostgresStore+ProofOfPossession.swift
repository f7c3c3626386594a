import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: ProofOfPossessionRepository {
    public func spendJTI(digest: [UInt8], kind: UsedJTIKind, expiresAt: Date, now: Date) async throws -> Bool {
        // One statement is both the check and the claim, whichever instance asks: an expired use may be taken over.
        try await returnsRow(
            query(
                """
                INSERT INTO used_jtis (digest, kind, expires_at) VALUES (\(ByteBuffer(bytes: digest)), \(kind.rawValue), \(expiresAt.unixSeconds))
                ON CONFLICT (digest) DO UPDATE SET expires_at = excluded.expires_at WHERE used_jtis.expires_at < \(now.unixSeconds)
                RETURNING 1
                """))
    }

    public func insertPushedRequest(_ request: PushedAuthorizationRequest) async throws {
        try await query(
            """
            INSERT INTO pushed_authorization_requests (digest, client_id, parameters, expires_at)
            VALUES (\(ByteBuffer(bytes: request.digest)), \(request.clientID), \(request.parameters), \(request.expiresAt.unixSeconds))
            """)
    }

    public func pushedRequest(digest: [UInt8], now: Date) async throws -> PushedAuthorizationRequest? {
        let rows = try await query(
            """
            SELECT client_id, parameters, expires_at FROM pushed_authorization_requests
            WHERE digest = \(ByteBuffer(bytes: digest)) AND expires_at > \(now.unixSeconds)
            """)
        for try await (clientID, parameters, expiresAt) in rows.decode((String, String, Int64).self) {
            return PushedAuthorizationRequest(digest: digest, clientID: clientID, parameters: parameters, expiresAt: Date(unixSeconds: expiresAt))
        }
        return nil
    }

    public func consumePushedRequest(digest: [UInt8]) async throws -> Bool {
        try await returnsRow(query("DELETE FROM pushed_authorization_requests WHERE digest = \(ByteBuffer(bytes: digest)) RETURNING 1"))
    }

    public func serverSecret(name: String, make: @Sendable () -> [UInt8]) async throws -> [UInt8] {
        try await query(
            """
            INSERT INTO server_secrets (name, secret, created_at) VALUES (\(name), \(ByteBuffer(bytes: make())), \(Date().unixSeconds))
            ON CONFLICT (name) DO NOTHING
            """)
        for try await secret in try await query("SELECT secret FROM server_secrets WHERE name = \(name)").decode(ByteBuffer.self) {
            return Array(secret.readableBytesView)
        }
        throw StoreError(description: "server secret \(name) was not stored")
    }

    public func purgeExpiredProofs(before now: Date, limit: Int) async throws -> Int {
        var removed = 0
        for table in ["used_jtis", "pushed_authorization_requests"] {
            removed += try await query(
                """
                DELETE FROM \(unescaped: table)
                WHERE digest IN (SELECT digest FROM \(unescaped: table) WHERE expires_at < \(now.unixSeconds) LIMIT \(limit))
                RETURNING 1
                """
            ).collect().count
        }
        return removed
    }
}
