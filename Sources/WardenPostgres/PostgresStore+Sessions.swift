import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: SessionRepository {
    public func session(digest: [UInt8], at now: Date) async throws -> BrowserSession? {
        let rows = try await query(
            """
            SELECT sid, user_id, csrf_token, authenticated_at, expires_at FROM sessions
            WHERE digest = \(ByteBuffer(bytes: digest)) AND expires_at > \(now.unixSeconds)
            """)
        for try await (sid, userID, csrfToken, authenticatedAt, expiresAt) in rows.decode((String, String?, String, Int64?, Int64).self) {
            return BrowserSession(
                digest: digest, sid: sid, userID: userID, csrfToken: csrfToken,
                authenticatedAt: authenticatedAt.map(Date.init(unixSeconds:)), expiresAt: Date(unixSeconds: expiresAt))
        }
        return nil
    }

    public func insert(_ session: BrowserSession, replacing previous: [UInt8]?) async throws {
        // One statement, so atomic without a transaction block.
        try await query(
            """
            WITH replaced AS (DELETE FROM sessions WHERE digest = \(previous.map { ByteBuffer(bytes: $0) }) RETURNING 1)
            INSERT INTO sessions (digest, sid, user_id, csrf_token, authenticated_at, expires_at)
            SELECT \(ByteBuffer(bytes: session.digest)), \(session.sid), \(session.userID), \(session.csrfToken),
                \(session.authenticatedAt?.unixSeconds), \(session.expiresAt.unixSeconds)
            FROM (SELECT count(*) FROM replaced) AS done
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

    public func endSessions(_ selector: SessionSelector, at now: Date) async throws -> Int {
        try await transaction { [self] connection in try await endSessions(selector, at: now, on: connection) }
    }

    public func sessionSummaries(userID: String?, at now: Date) async throws -> [SessionSummary] {
        let rows = try await query(
            """
            SELECT s.sid, s.user_id, u.username, s.authenticated_at, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.expires_at > \(now.unixSeconds) AND (\(userID)::text IS NULL OR s.user_id = \(userID))
            ORDER BY s.authenticated_at, s.sid
            """)
        var summaries: [SessionSummary] = []
        for try await (sid, user, username, authenticatedAt, expiresAt) in rows.decode((String, String, String, Int64, Int64).self) {
            summaries.append(
                SessionSummary(
                    sid: sid, userID: user, username: username, authenticatedAt: Date(unixSeconds: authenticatedAt),
                    expiresAt: Date(unixSeconds: expiresAt)))
        }
        return summaries
    }

    /// Queues the back-channel logouts of the selected sessions, revokes their grants that
    /// need the user present, then deletes them.
    func endSessions(_ selector: SessionSelector, at now: Date, on connection: PostgresConnection) async throws -> Int {
        switch selector {
        case .digest(let digest): try await endSessions(where: "digest", is: ByteBuffer(bytes: digest), at: now, on: connection)
        case .sid(let sid): try await endSessions(where: "sid", is: sid, at: now, on: connection)
        case .user(let id): try await endSessions(where: "user_id", is: id, at: now, on: connection)
        }
    }

    private func endSessions<Value: PostgresDynamicTypeEncodable>(
        where column: String, is value: Value, at now: Date, on connection: PostgresConnection
    ) async throws -> Int {
        try await connection.query(
            """
            INSERT INTO backchannel_logouts (client_id, sid, subject, attempts, due_at)
            SELECT DISTINCT g.client_id, g.session_id, g.user_id, 0, \(now.unixSeconds) FROM grants g JOIN clients c ON c.id = g.client_id
            WHERE c.backchannel_logout_uri IS NOT NULL
                AND g.session_id IN (SELECT sid FROM sessions WHERE \(unescaped: column) = \(value))
            ON CONFLICT DO NOTHING
            """, logger: logger)
        try await connection.query(
            """
            UPDATE grants SET revoked_at = \(now.unixSeconds)
            WHERE revoked_at IS NULL AND (' ' || scope || ' ') NOT LIKE '% offline_access %'
                AND session_id IN (SELECT sid FROM sessions WHERE \(unescaped: column) = \(value))
            """, logger: logger)
        return try await connection.query(
            "DELETE FROM sessions WHERE \(unescaped: column) = \(value) RETURNING 1", logger: logger
        ).collect().count
    }
}

extension PostgresStore: BackchannelLogoutQueue {
    public func claimBackchannelLogouts(at now: Date, limit: Int, lease: TimeInterval) async throws -> [PendingBackchannelLogout] {
        // SKIP LOCKED: instances claiming at once take different entries.
        let rows = try await query(
            """
            UPDATE backchannel_logouts SET attempts = attempts + 1, due_at = \(now.unixSeconds + Int64(lease)) + (1::bigint << attempts::integer)
            WHERE (client_id, sid) IN (
                SELECT client_id, sid FROM backchannel_logouts
                WHERE due_at <= \(now.unixSeconds) AND attempts < \(PendingBackchannelLogout.maximumAttempts)
                ORDER BY due_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING client_id, subject, sid, attempts
            """)
        var claimed: [PendingBackchannelLogout] = []
        for try await (clientID, subject, sid, attempts) in rows.decode((String, String, String, Int64).self) {
            claimed.append(PendingBackchannelLogout(clientID: clientID, subject: subject, sid: sid, attempt: Int(attempts)))
        }
        return claimed
    }

    public func finishBackchannelLogout(clientID: String, sid: String) async throws {
        try await query("DELETE FROM backchannel_logouts WHERE client_id = \(clientID) AND sid = \(sid)")
    }
}
