import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: InitialAccessTokenRepository {
    public func insertInitialAccessToken(_ token: InitialAccessTokenRecord) async throws {
        try await query(
            """
            INSERT INTO initial_access_tokens (id, digest, created_at, expires_at, max_uses, uses)
            VALUES (\(token.id), \(ByteBuffer(bytes: token.digest)), \(token.createdAt.unixSeconds), \(token.expiresAt?.unixSeconds),
                \(token.maxUses.map(Int64.init)), 0)
            """)
    }

    public func initialAccessTokens() async throws -> [InitialAccessTokenRecord] {
        let rows = try await query(
            "SELECT id, digest, created_at, expires_at, max_uses, uses, revoked_at FROM initial_access_tokens ORDER BY created_at, id")
        var tokens: [InitialAccessTokenRecord] = []
        for try await (id, digest, createdAt, expiresAt, maxUses, uses, revokedAt) in rows.decode(
            (String, ByteBuffer, Int64, Int64?, Int64?, Int64, Int64?).self)
        {
            tokens.append(
                InitialAccessTokenRecord(
                    id: id, digest: Array(buffer: digest), createdAt: Date(unixSeconds: createdAt),
                    expiresAt: expiresAt.map(Date.init(unixSeconds:)), maxUses: maxUses.map(Int.init), uses: Int(uses),
                    revokedAt: revokedAt.map(Date.init(unixSeconds:))))
        }
        return tokens
    }

    public func revokeInitialAccessToken(id: String, at now: Date) async throws -> Bool {
        try await returnsRow(
            query("UPDATE initial_access_tokens SET revoked_at = \(now.unixSeconds) WHERE id = \(id) AND revoked_at IS NULL RETURNING 1"))
    }

    public func spendInitialAccessToken(digest: [UInt8], at now: Date) async throws -> Bool {
        try await returnsRow(
            query(
                """
                UPDATE initial_access_tokens SET uses = uses + 1
                WHERE digest = \(ByteBuffer(bytes: digest)) AND revoked_at IS NULL
                    AND (expires_at IS NULL OR expires_at > \(now.unixSeconds)) AND (max_uses IS NULL OR uses < max_uses)
                RETURNING 1
                """))
    }
}
