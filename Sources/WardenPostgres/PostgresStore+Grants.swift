import Foundation
import PostgresNIO
import WardenCore

extension PostgresStore: GrantRepository {
    /// The grant's columns, to sit beside a code's or refresh token's.
    static let grantColumns = "g.id, g.client_id, g.user_id, g.scope, g.audiences, g.created_at, g.expires_at, g.revoked_at"

    public func insert(grant: GrantRecord, code: AuthorizationCodeRecord) async throws {
        let audiences = try StoredForm.json(grant.audience)
        // One statement, so one round trip and atomic without a transaction block.
        try await query(
            """
            WITH new_grant AS (
                INSERT INTO grants (id, client_id, user_id, scope, audiences, created_at, expires_at)
                VALUES (\(grant.id), \(grant.clientID), \(grant.userID), \(grant.scope.description), \(audiences),
                    \(grant.createdAt.unixSeconds), \(grant.expiresAt.unixSeconds))
                RETURNING id
            )
            INSERT INTO authorization_codes (digest, grant_id, redirect_uri, redirect_uri_explicit, code_challenge,
                code_challenge_method, expires_at)
            SELECT \(ByteBuffer(bytes: code.digest)), id, \(code.redirectURI), \(code.redirectURIExplicit), \(code.codeChallenge),
                \(code.codeChallengeMethod?.rawValue), \(code.expiresAt.unixSeconds)
            FROM new_grant
            """)
    }

    public func exchangeCode(
        digest: [UInt8], at now: Date, decide: @escaping @Sendable (AuthorizationCodeRecord) throws -> CodeUse
    ) async throws -> TokenExchange<AuthorizationCodeRecord> {
        try await transaction { connection in
            guard let record = try await Self.code(digest: digest, on: connection, logger: logger) else { return .unknown }
            if case .redeem(let grantExpiresAt, let refreshToken) = try decide(record) {
                let consumed = try await returnsRow(
                    connection.query(
                        """
                        UPDATE authorization_codes SET consumed_at = \(now.unixSeconds)
                        WHERE digest = \(ByteBuffer(bytes: digest)) AND consumed_at IS NULL RETURNING 1
                        """, logger: logger))
                if consumed {
                    try await connection.query(
                        """
                        UPDATE grants SET expires_at = \(grantExpiresAt.unixSeconds)
                        WHERE id = \(record.grant.id) AND revoked_at IS NULL
                        """, logger: logger)
                    if let refreshToken { try await insert(refreshToken, grantID: record.grant.id, at: now, on: connection) }
                    return .exchanged(record)
                }
            }
            try await revokeGrant(id: record.grant.id, at: now, on: connection)
            return .reused(record)
        }
    }

    public func refreshToken(digest: [UInt8]) async throws -> RefreshTokenRecord? {
        try await client.withConnection { try await Self.refreshToken(digest: digest, on: $0, logger: logger) }
    }

    public func exchangeRefreshToken(
        digest: [UInt8], at now: Date, decide: @escaping @Sendable (RefreshTokenRecord) throws -> RefreshTokenUse
    ) async throws -> TokenExchange<RefreshTokenRecord> {
        try await transaction { connection in
            guard let record = try await Self.refreshToken(digest: digest, on: connection, logger: logger) else { return .unknown }
            let done: Bool
            switch try decide(record) {
            case .rotate(let successor):
                done = try await rotate(digest, successor: successor, grantID: record.grant.id, at: now, on: connection)
            case .replayWithinGrace(let successor):
                done = try await replayWithinGrace(digest, successor: successor, grantID: record.grant.id, at: now, on: connection)
            case .reuse: done = false
            }
            if done { return .exchanged(record) }
            try await revokeGrant(id: record.grant.id, at: now, on: connection)
            return .reused(record)
        }
    }

    public func revokeGrant(id: String, at now: Date) async throws {
        try await client.withConnection { try await revokeGrant(id: id, at: now, on: $0) }
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
        var purged = try await query(
            """
            DELETE FROM grants WHERE id IN (
                SELECT id FROM grants WHERE expires_at < \(seconds) OR revoked_at IS NOT NULL LIMIT \(limit))
            RETURNING 1
            """
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

    static func code(digest: [UInt8], on connection: PostgresConnection, logger: Logger) async throws -> AuthorizationCodeRecord? {
        let rows = try await connection.query(
            """
            SELECT c.redirect_uri, c.redirect_uri_explicit, c.code_challenge, c.code_challenge_method, c.expires_at, c.consumed_at,
                \(unescaped: grantColumns)
            FROM authorization_codes c JOIN grants g ON g.id = c.grant_id WHERE c.digest = \(ByteBuffer(bytes: digest))
            """, logger: logger)
        for try await row in rows {
            let (redirectURI, explicit, challenge, method, expiresAt, consumedAt) = try row.decode(
                (String, Bool, String?, String?, Int64, Int64?).self)
            return AuthorizationCodeRecord(
                digest: digest, grant: try grant(row, after: 6), redirectURI: redirectURI, redirectURIExplicit: explicit,
                codeChallenge: challenge, codeChallengeMethod: method.flatMap(PKCE.Method.init(rawValue:)),
                expiresAt: Date(unixSeconds: expiresAt), consumedAt: consumedAt.map(Date.init(unixSeconds:)))
        }
        return nil
    }

    static func refreshToken(digest: [UInt8], on connection: PostgresConnection, logger: Logger) async throws -> RefreshTokenRecord? {
        let rows = try await connection.query(
            """
            SELECT r.scope, r.issued_at, r.idle_expires_at, r.rotated_at, r.grace_used, \(unescaped: grantColumns)
            FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.digest = \(ByteBuffer(bytes: digest))
            """, logger: logger)
        for try await row in rows {
            let (scope, issuedAt, idleExpiresAt, rotatedAt, graceUsed) = try row.decode((String, Int64, Int64, Int64?, Bool).self)
            return RefreshTokenRecord(
                digest: digest, grant: try grant(row, after: 5), scope: StoredForm.scope(scope), issuedAt: Date(unixSeconds: issuedAt),
                idleExpiresAt: Date(unixSeconds: idleExpiresAt), rotatedAt: rotatedAt.map(Date.init(unixSeconds:)), graceUsed: graceUsed)
        }
        return nil
    }

    /// The grant in `row`'s columns after the first `offset`.
    static func grant(_ row: PostgresRow, after offset: Int) throws -> GrantRecord {
        let cells = row.makeRandomAccess()
        func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws -> T { try cells[offset + index].decode(T.self) }
        return GrantRecord(
            id: try cell(0, String.self), clientID: try cell(1, String.self), userID: try cell(2, String.self),
            scope: StoredForm.scope(try cell(3, String.self)), audience: try StoredForm.strings(try cell(4, String.self)),
            createdAt: Date(unixSeconds: try cell(5, Int64.self)), expiresAt: Date(unixSeconds: try cell(6, Int64.self)),
            revokedAt: try cell(7, Int64?.self).map(Date.init(unixSeconds:)))
    }

    /// Marks `digest` rotated if it is not yet and stores its successor; false when it was rotated already.
    func rotate(_ digest: [UInt8], successor: NewRefreshToken, grantID: String, at now: Date, on connection: PostgresConnection)
        async throws -> Bool
    {
        let rotated = try await returnsRow(
            connection.query(
                """
                UPDATE refresh_tokens SET rotated_at = \(now.unixSeconds), successor_digest = \(ByteBuffer(bytes: successor.digest))
                WHERE digest = \(ByteBuffer(bytes: digest)) AND rotated_at IS NULL RETURNING 1
                """, logger: logger))
        guard rotated else { return false }
        try await insert(successor, grantID: grantID, at: now, on: connection)
        return true
    }

    /// Spends the grace of a rotated token, killing its unused successor; false otherwise.
    func replayWithinGrace(
        _ digest: [UInt8], successor: NewRefreshToken, grantID: String, at now: Date, on connection: PostgresConnection
    ) async throws -> Bool {
        // Only while the successor is unused: a successor that was itself rotated means
        // the chain moved on, and the replay is theft, not a lost response. The update
        // returns the earlier successor, which is then dead.
        let rows = try await connection.query(
            """
            UPDATE refresh_tokens AS r SET grace_used = TRUE, successor_digest = \(ByteBuffer(bytes: successor.digest))
            FROM refresh_tokens AS previous
            WHERE r.digest = \(ByteBuffer(bytes: digest)) AND r.rotated_at IS NOT NULL AND NOT r.grace_used
              AND previous.digest = r.successor_digest AND previous.rotated_at IS NULL
            RETURNING previous.digest
            """, logger: logger)
        var previous: ByteBuffer?
        for try await digest in rows.decode(ByteBuffer.self) { previous = digest }
        guard let previous else { return false }
        // Kept as rotated so that presenting it counts as reuse. Conditional: another
        // transaction may have rotated it since it was read, and then the chain moved on.
        let killed = try await returnsRow(
            connection.query(
                """
                UPDATE refresh_tokens SET rotated_at = \(now.unixSeconds), grace_used = TRUE
                WHERE digest = \(previous) AND rotated_at IS NULL RETURNING 1
                """, logger: logger))
        guard killed else { return false }
        try await insert(successor, grantID: grantID, at: now, on: connection)
        return true
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
