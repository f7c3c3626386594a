import Foundation
import PostgresNIO
import WardenCore
import WardenMigrations

extension PostgresStore: GrantRepository {
    /// The grant's columns, to sit beside a code's or refresh token's.
    static let grantColumns =
        "g.id, g.client_id, g.user_id, g.scope, g.audiences, g.created_at, g.expires_at, g.revoked_at, g.session_id, g.auth_time, g.claims, g.dpop_jkt"

    public func insert(grant: GrantRecord, code: AuthorizationCodeRecord) async throws {
        let audiences = try StoredForm.json(grant.audience)
        // One statement, so one round trip and atomic without a transaction block.
        try await query(
            """
            WITH new_grant AS (
                INSERT INTO grants (id, client_id, user_id, scope, audiences, created_at, expires_at, session_id, auth_time, claims, dpop_jkt)
                VALUES (\(grant.id), \(grant.clientID), \(grant.userID), \(grant.scope.description), \(audiences),
                    \(grant.createdAt.unixSeconds), \(grant.expiresAt.unixSeconds), \(grant.sessionID), \(grant.authTime?.unixSeconds),
                    \(grant.claimsRequest), \(grant.dpopKey))
                RETURNING id
            )
            INSERT INTO authorization_codes (digest, grant_id, redirect_uri, redirect_uri_explicit, code_challenge,
                code_challenge_method, expires_at, nonce)
            SELECT \(ByteBuffer(bytes: code.digest)), id, \(code.redirectURI), \(code.redirectURIExplicit), \(code.codeChallenge),
                \(code.codeChallengeMethod?.rawValue), \(code.expiresAt.unixSeconds), \(code.nonce)
            FROM new_grant
            """)
    }

    public func withLockedCode<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (AuthorizationCodeRecord?) throws -> GrantStep<T>
    ) async throws -> T {
        try await take(step, at: now) { try await Self.code(digest: digest, locking: true, on: $0, logger: $1) }
    }

    public func refreshToken(digest: [UInt8]) async throws -> RefreshTokenRecord? {
        try await withConnection { [logger] in try await Self.refreshToken(digest: digest, locking: false, on: $0, logger: logger) }
    }

    public func withLockedRefreshToken<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (RefreshTokenRecord?) throws -> GrantStep<T>
    ) async throws -> T {
        try await take(step, at: now) { try await Self.refreshToken(digest: digest, locking: true, on: $0, logger: $1) }
    }

    /// One lifecycle step as one transaction: `read` (locking what it reads), decide, apply.
    func take<Record: Sendable, T: Sendable>(
        _ step: @escaping @Sendable (Record?) throws -> GrantStep<T>, at now: Date,
        read: @escaping @Sendable (PostgresConnection, Logger) async throws -> Record?
    ) async throws -> T {
        try await transaction { [self] connection in
            let step = try step(try await read(connection, logger))
            try await apply(step.writes, at: now, on: connection)
            return step.result
        }
    }

    public func revokeGrant(id: String, at now: Date) async throws {
        try await withConnection { [self] in try await revokeGrant(id: id, at: now, on: $0) }
    }

    public func activeGrantEnd(id: String, at now: Date) async throws -> Date? {
        let rows = try await query(
            "SELECT expires_at FROM grants WHERE id = \(id) AND revoked_at IS NULL AND expires_at > \(now.unixSeconds)")
        for try await end in rows.decode(Int64.self) { return Date(unixSeconds: end) }
        return nil
    }

    public func purgeExpired(before now: Date, limit: Int) async throws -> Int {
        let seconds = now.unixSeconds
        // Codes and refresh tokens of a purged grant go with it (ON DELETE CASCADE).
        // Ended and revoked grants are asked for apart, so each finds its index.
        var purged = try await query(
            "DELETE FROM grants WHERE id IN (SELECT id FROM grants WHERE expires_at < \(seconds) LIMIT \(limit)) RETURNING 1"
        ).collect().count
        purged += try await query(
            "DELETE FROM grants WHERE id IN (SELECT id FROM grants WHERE revoked_at IS NOT NULL LIMIT \(limit)) RETURNING 1"
        ).collect().count
        // A refresh token past its idle lifetime can never be used, rotated or not.
        purged += try await query(
            """
            DELETE FROM refresh_tokens WHERE digest IN (
                SELECT digest FROM refresh_tokens WHERE idle_expires_at < \(seconds) LIMIT \(limit))
            RETURNING 1
            """
        ).collect().count
        purged += try await query(
            """
            DELETE FROM sessions WHERE digest IN (SELECT digest FROM sessions WHERE expires_at < \(seconds) LIMIT \(limit))
            RETURNING 1
            """
        ).collect().count
        // Back-channel logouts whose every attempt failed, once the last one's lease is over.
        purged += try await query(
            """
            DELETE FROM backchannel_logouts WHERE (client_id, sid) IN (
                SELECT client_id, sid FROM backchannel_logouts
                WHERE due_at < \(seconds) AND attempts >= \(PendingBackchannelLogout.maximumAttempts) LIMIT \(limit))
            RETURNING 1
            """
        ).collect().count
        purged += try await query(
            """
            DELETE FROM device_authorizations WHERE device_code_digest IN (
                SELECT device_code_digest FROM device_authorizations
                WHERE expires_at < \(seconds - DeviceAuthorizationRecord.keptAfterExpiry) LIMIT \(limit))
            RETURNING 1
            """
        ).collect().count
        // Sign-in failures matter for a minute; an hour is plenty.
        let failuresBefore = PostgresSignInFailures.milliseconds(now) - 3_600_000
        purged += try await query(
            """
            DELETE FROM sign_in_failures WHERE ctid IN (
                SELECT ctid FROM sign_in_failures WHERE failed_at < \(failuresBefore) LIMIT \(limit))
            RETURNING 1
            """
        ).collect().count
        return purged
    }

    // MARK: - Within a transaction

    /// The code with this digest; `locking`, its row stays locked until the transaction ends
    /// (a concurrent step on it waits, then reads what this one wrote).
    static func code(digest: [UInt8], locking: Bool, on connection: PostgresConnection, logger: Logger) async throws
        -> AuthorizationCodeRecord?
    {
        let rows = try await connection.query(
            """
            SELECT c.redirect_uri, c.redirect_uri_explicit, c.code_challenge, c.code_challenge_method, c.expires_at, c.consumed_at,
                c.nonce, \(unescaped: grantColumns)
            FROM authorization_codes c JOIN grants g ON g.id = c.grant_id WHERE c.digest = \(ByteBuffer(bytes: digest))
            \(unescaped: locking ? "FOR UPDATE OF c" : "")
            """, logger: logger)
        for try await row in rows {
            let cells = row.makeRandomAccess()
            let (redirectURI, explicit, challenge, method, expiresAt, consumedAt, nonce) = (
                try cells[0].decode(String.self), try cells[1].decode(Bool.self), try cells[2].decode(String?.self),
                try cells[3].decode(String?.self), try cells[4].decode(Int64.self), try cells[5].decode(Int64?.self),
                try cells[6].decode(String?.self)
            )
            return AuthorizationCodeRecord(
                digest: digest, grant: try grant(row, after: 7), redirectURI: redirectURI, redirectURIExplicit: explicit,
                codeChallenge: challenge, codeChallengeMethod: method.flatMap(PKCE.Method.init(rawValue:)),
                expiresAt: Date(unixSeconds: expiresAt), consumedAt: consumedAt.map(Date.init(unixSeconds:)), nonce: nonce)
        }
        return nil
    }

    /// The refresh token with this digest and, once it is rotated, its live successor;
    /// `locking`, both rows stay locked until the transaction ends.
    static func refreshToken(digest: [UInt8], locking: Bool, on connection: PostgresConnection, logger: Logger) async throws
        -> RefreshTokenRecord?
    {
        let lock = locking ? "FOR UPDATE" : ""
        let rows = try await connection.query(
            """
            SELECT r.scope, r.issued_at, r.idle_expires_at, r.rotated_at, r.grace_used, r.successor_digest, \(unescaped: grantColumns)
            FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.digest = \(ByteBuffer(bytes: digest))
            \(unescaped: locking ? "FOR UPDATE OF r" : "")
            """, logger: logger)
        var found: (record: RefreshTokenRecord, successor: ByteBuffer?)?
        for try await row in rows {
            let cells = row.makeRandomAccess()
            let (scope, issuedAt, idleExpiresAt, rotatedAt, graceUsed, successor) = (
                try cells[0].decode(String.self), try cells[1].decode(Int64.self), try cells[2].decode(Int64.self),
                try cells[3].decode(Int64?.self), try cells[4].decode(Bool.self), try cells[5].decode(ByteBuffer?.self)
            )
            let record = RefreshTokenRecord(
                digest: digest, grant: try grant(row, after: 6), scope: StoredForm.scope(scope), issuedAt: Date(unixSeconds: issuedAt),
                idleExpiresAt: Date(unixSeconds: idleExpiresAt), rotatedAt: rotatedAt.map(Date.init(unixSeconds:)), graceUsed: graceUsed)
            found = (record, successor)
        }
        guard var record = found?.record else { return nil }
        // Only a rotated token's successor matters (to a grace replay): the rare path pays the read.
        if record.rotatedAt != nil, let successor = found?.successor {
            let live = try await connection.query(
                "SELECT digest FROM refresh_tokens WHERE digest = \(successor) AND rotated_at IS NULL \(unescaped: lock)", logger: logger)
            for try await digest in live.decode(ByteBuffer.self) { record.liveSuccessor = Array(buffer: digest) }
        }
        return record
    }

    /// The grant in `row`'s columns after the first `offset`.
    static func grant(_ row: PostgresRow, after offset: Int) throws -> GrantRecord {
        let cells = row.makeRandomAccess()
        func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws -> T { try cells[offset + index].decode(T.self) }
        return GrantRecord(
            id: try cell(0, String.self), clientID: try cell(1, String.self), userID: try cell(2, String.self),
            scope: StoredForm.scope(try cell(3, String.self)), audience: try StoredForm.strings(try cell(4, String.self)),
            createdAt: Date(unixSeconds: try cell(5, Int64.self)), expiresAt: Date(unixSeconds: try cell(6, Int64.self)),
            revokedAt: try cell(7, Int64?.self).map(Date.init(unixSeconds:)), sessionID: try cell(8, String?.self),
            authTime: try cell(9, Int64?.self).map(Date.init(unixSeconds:)), claimsRequest: try cell(10, String?.self),
            dpopKey: try cell(11, String?.self))
    }

    /// Applies the lifecycle's writes. Each conditional one must change its row: the
    /// locks taken when reading make that so, and a write that does not rolls the step back.
    func apply(_ writes: [GrantWrite], at now: Date, on connection: PostgresConnection) async throws {
        let seconds = now.unixSeconds
        for write in writes {
            let changed: Bool
            switch write {
            case .consumeCode(let digest):
                changed = try await returnsRow(
                    connection.query(
                        """
                        UPDATE authorization_codes SET consumed_at = \(seconds)
                        WHERE digest = \(ByteBuffer(bytes: digest)) AND consumed_at IS NULL RETURNING 1
                        """, logger: logger))
            case .extendGrant(let id, let end):
                try await connection.query(
                    "UPDATE grants SET expires_at = \(end.unixSeconds) WHERE id = \(id) AND revoked_at IS NULL", logger: logger)
                changed = true
            case .insertRefreshToken(let token, let grantID):
                try await insert(token, grantID: grantID, at: now, on: connection)
                changed = true
            case .rotateRefreshToken(let digest, let successor):
                changed = try await returnsRow(
                    connection.query(
                        """
                        UPDATE refresh_tokens SET rotated_at = \(seconds), successor_digest = \(ByteBuffer(bytes: successor))
                        WHERE digest = \(ByteBuffer(bytes: digest)) AND rotated_at IS NULL RETURNING 1
                        """, logger: logger))
            case .spendGrace(let digest, let successor):
                changed = try await returnsRow(
                    connection.query(
                        """
                        UPDATE refresh_tokens SET grace_used = TRUE, successor_digest = \(ByteBuffer(bytes: successor))
                        WHERE digest = \(ByteBuffer(bytes: digest)) AND NOT grace_used RETURNING 1
                        """, logger: logger))
            case .retireRefreshToken(let digest):
                changed = try await returnsRow(
                    connection.query(
                        """
                        UPDATE refresh_tokens SET rotated_at = \(seconds), grace_used = TRUE
                        WHERE digest = \(ByteBuffer(bytes: digest)) AND rotated_at IS NULL RETURNING 1
                        """, logger: logger))
            case .revokeGrant(let id):
                try await revokeGrant(id: id, at: now, on: connection)
                changed = true
            case .bindGrant(let id, let key):
                changed = try await returnsRow(
                    connection.query("UPDATE grants SET dpop_jkt = \(key) WHERE id = \(id) AND dpop_jkt IS NULL RETURNING 1", logger: logger))
            case .recordDevicePoll(let digest, let interval):
                try await connection.query(
                    """
                    UPDATE device_authorizations SET last_polled_at = \(seconds), poll_interval = \(interval)
                    WHERE device_code_digest = \(ByteBuffer(bytes: digest))
                    """, logger: logger)
                changed = true
            case .redeemDeviceCode(let digest):
                changed = try await returnsRow(
                    connection.query(
                        """
                        UPDATE device_authorizations SET redeemed_at = \(seconds)
                        WHERE device_code_digest = \(ByteBuffer(bytes: digest)) AND redeemed_at IS NULL RETURNING 1
                        """, logger: logger))
            }
            guard changed else { throw StoreError(description: "a grant write found its row changed under the lock") }
        }
    }

    func revokeGrant(id: String, at now: Date, on connection: PostgresConnection) async throws {
        try await connection.query("UPDATE grants SET revoked_at = \(now.unixSeconds) WHERE id = \(id) AND revoked_at IS NULL", logger: logger)
    }

    func insert(_ token: NewRefreshToken, grantID: String, at now: Date, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO refresh_tokens (digest, grant_id, scope, issued_at, idle_expires_at)
            VALUES (\(ByteBuffer(bytes: token.digest)), \(grantID), \(token.scope.description), \(now.unixSeconds),
                \(token.idleExpiresAt.unixSeconds))
            """, logger: logger)
    }
}
