import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: RevocationRepository {
    public func revoke(jwtID: String, clientID: String, expiresAt: Date) async throws {
        try await write { db in
            try db.executeCached(
                sql: "INSERT OR IGNORE INTO revoked_access_tokens (jti, client_id, expires_at) VALUES (?, ?, ?)",
                arguments: [jwtID, clientID, expiresAt.unixSeconds]
            )
        }
    }

    public func isRevoked(jwtID: String) async throws -> Bool {
        try await read { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?)"), arguments: [jwtID]) ?? false
        }
    }

    public func purgeRevocations(expiredBefore date: Date, limit: Int) async throws -> Int {
        try await write { db in
            try db.executeCached(
                sql: """
                    DELETE FROM revoked_access_tokens
                    WHERE jti IN (SELECT jti FROM revoked_access_tokens WHERE expires_at < ? LIMIT ?)
                    """,
                arguments: [date.unixSeconds, limit]
            )
            return db.changesCount
        }
    }
}
