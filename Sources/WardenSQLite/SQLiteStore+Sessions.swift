import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: SessionRepository {
    public func session(digest: [UInt8], at now: Date) async throws -> BrowserSession? {
        try await pool.read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM sessions WHERE digest = ? AND expires_at > ?"), arguments: [Data(digest), now.unixSeconds]
            ).map { row in
                let authenticatedAt: Int64? = row["authenticated_at"]
                return BrowserSession(
                    digest: digest, userID: row["user_id"], csrfToken: row["csrf_token"],
                    authenticatedAt: authenticatedAt.map(Date.init(unixSeconds:)), expiresAt: Date(unixSeconds: row["expires_at"]))
            }
        }
    }

    public func insert(_ session: BrowserSession) async throws {
        try await write { db in
            try db.executeCached(
                sql: "INSERT INTO sessions (digest, user_id, csrf_token, authenticated_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    Data(session.digest), session.userID, session.csrfToken, session.authenticatedAt?.unixSeconds,
                    session.expiresAt.unixSeconds,
                ])
        }
    }

    public func replaceCSRFToken(digest: [UInt8], old: String, new: String) async throws -> Bool {
        try await write { db in
            try db.executeCached(
                sql: "UPDATE sessions SET csrf_token = ? WHERE digest = ? AND csrf_token = ?", arguments: [new, Data(digest), old])
            return db.changesCount == 1
        }
    }

    public func deleteSession(digest: [UInt8]) async throws {
        try await write { db in try db.executeCached(sql: "DELETE FROM sessions WHERE digest = ?", arguments: [Data(digest)]) }
    }
}
