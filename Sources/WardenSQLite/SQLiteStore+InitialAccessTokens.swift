import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: InitialAccessTokenRepository {
    public func insertInitialAccessToken(_ token: InitialAccessTokenRecord) async throws {
        try await write { db in
            try db.executeCached(
                sql: "INSERT INTO initial_access_tokens (id, digest, created_at, expires_at, max_uses, uses) VALUES (?, ?, ?, ?, ?, 0)",
                arguments: [token.id, Data(token.digest), token.createdAt.unixSeconds, token.expiresAt?.unixSeconds, token.maxUses])
        }
    }

    public func initialAccessTokens() async throws -> [InitialAccessTokenRecord] {
        try await read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT id, digest, created_at, expires_at, max_uses, uses, revoked_at FROM initial_access_tokens ORDER BY created_at, id")
            ).map { row in
                let (digest, expiresAt, revokedAt): (Data, Int64?, Int64?) = (row[1], row[3], row[6])
                return InitialAccessTokenRecord(
                    id: row[0], digest: [UInt8](digest), createdAt: Date(unixSeconds: row[2]), expiresAt: expiresAt.map(Date.init(unixSeconds:)),
                    maxUses: row[4], uses: row[5], revokedAt: revokedAt.map(Date.init(unixSeconds:)))
            }
        }
    }

    public func revokeInitialAccessToken(id: String, at now: Date) async throws -> Bool {
        try await write { db in
            try db.executeCached(
                sql: "UPDATE initial_access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [now.unixSeconds, id])
            return db.changesCount == 1
        }
    }

    public func spendInitialAccessToken(digest: [UInt8], at now: Date) async throws -> Bool {
        try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE initial_access_tokens SET uses = uses + 1
                    WHERE digest = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND (max_uses IS NULL OR uses < max_uses)
                    """,
                arguments: [Data(digest), now.unixSeconds])
            return db.changesCount == 1
        }
    }
}
