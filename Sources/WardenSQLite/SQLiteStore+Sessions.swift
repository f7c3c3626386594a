import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: SessionRepository {
    public func session(digest: [UInt8], at now: Date) async throws -> BrowserSession? {
        try await read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM sessions WHERE digest = ? AND expires_at > ?"), arguments: [Data(digest), now.unixSeconds]
            ).map { row in
                let authenticatedAt: Int64? = row["authenticated_at"]
                return BrowserSession(
                    digest: digest, sid: row["sid"], userID: row["user_id"], csrfToken: row["csrf_token"],
                    authenticatedAt: authenticatedAt.map(Date.init(unixSeconds:)), expiresAt: Date(unixSeconds: row["expires_at"]))
            }
        }
    }

    public func insert(_ session: BrowserSession, replacing previous: [UInt8]?) async throws {
        try await write { db in
            if let previous { try db.executeCached(sql: "DELETE FROM sessions WHERE digest = ?", arguments: [Data(previous)]) }
            try db.executeCached(
                sql: "INSERT INTO sessions (digest, sid, user_id, csrf_token, authenticated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    Data(session.digest), session.sid, session.userID, session.csrfToken, session.authenticatedAt?.unixSeconds,
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

    public func endSessions(_ selector: SessionSelector, at now: Date) async throws -> Int {
        try await write { db in try Self.endSessions(selector, at: now, in: db) }
    }

    public func sessionSummaries(userID: String?, at now: Date) async throws -> [SessionSummary] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.sid, s.user_id, u.username, s.authenticated_at, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
                    WHERE s.expires_at > ? AND (? IS NULL OR s.user_id = ?) ORDER BY s.authenticated_at, s.sid
                    """,
                arguments: [now.unixSeconds, userID, userID]
            ).map { row in
                SessionSummary(
                    sid: row[0], userID: row[1], username: row[2], authenticatedAt: Date(unixSeconds: row[3]),
                    expiresAt: Date(unixSeconds: row[4]))
            }
        }
    }

    /// Queues the back-channel logouts of the selected sessions, revokes their grants that
    /// need the user present, then deletes them.
    static func endSessions(_ selector: SessionSelector, at now: Date, in db: Database) throws -> Int {
        let (condition, argument): (String, any DatabaseValueConvertible) =
            switch selector {
            case .digest(let digest): ("digest = ?", Data(digest))
            case .sid(let sid): ("sid = ?", sid)
            case .user(let id): ("user_id = ?", id)
            }
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO backchannel_logouts (client_id, sid, subject, attempts, due_at)
                SELECT DISTINCT g.client_id, g.session_id, g.user_id, 0, ? FROM grants g JOIN clients c ON c.id = g.client_id
                WHERE c.backchannel_logout_uri IS NOT NULL AND g.session_id IN (SELECT sid FROM sessions WHERE \(condition))
                """,
            arguments: [now.unixSeconds, argument])
        try db.execute(
            sql: """
                UPDATE grants SET revoked_at = ? WHERE revoked_at IS NULL AND (' ' || scope || ' ') NOT LIKE '% offline_access %'
                    AND session_id IN (SELECT sid FROM sessions WHERE \(condition))
                """,
            arguments: [now.unixSeconds, argument])
        try db.execute(sql: "DELETE FROM sessions WHERE \(condition)", arguments: [argument])
        return db.changesCount
    }
}

extension SQLiteStore: BackchannelLogoutQueue {
    public func claimBackchannelLogouts(at now: Date, limit: Int, lease: TimeInterval) async throws -> [PendingBackchannelLogout] {
        try await write { db in
            try Row.fetchAll(
                db,
                sql: """
                    UPDATE backchannel_logouts SET attempts = attempts + 1, due_at = ? + (1 << attempts)
                    WHERE (client_id, sid) IN (
                        SELECT client_id, sid FROM backchannel_logouts WHERE due_at <= ? AND attempts < ? ORDER BY due_at LIMIT ?)
                    RETURNING client_id, subject, sid, attempts
                    """,
                arguments: [now.unixSeconds + Int64(lease), now.unixSeconds, PendingBackchannelLogout.maximumAttempts, limit]
            ).map { PendingBackchannelLogout(clientID: $0[0], subject: $0[1], sid: $0[2], attempt: $0[3]) }
        }
    }

    public func finishBackchannelLogout(clientID: String, sid: String) async throws {
        try await write { db in
            try db.executeCached(sql: "DELETE FROM backchannel_logouts WHERE client_id = ? AND sid = ?", arguments: [clientID, sid])
        }
    }
}
