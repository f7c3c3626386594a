import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: GrantRepository {
    /// The grant's columns, read by position after a code's or refresh token's: a lookup
    /// by name compares names case-insensitively, which cost more than the query here.
    static let grantColumns =
        "g.id, g.client_id, g.user_id, g.scope, g.audiences, g.created_at, g.expires_at, g.revoked_at, g.session_id, g.auth_time, g.claims, g.dpop_jkt"

    public func insert(grant: GrantRecord, code: AuthorizationCodeRecord) async throws {
        let audiences = try StoredForm.json(grant.audience)
        try await write { db in
            try Self.insert(grant, audiences: audiences, in: db)
            try db.executeCached(
                sql: """
                    INSERT INTO authorization_codes (digest, grant_id, redirect_uri, redirect_uri_explicit, code_challenge,
                        code_challenge_method, expires_at, nonce)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    Data(code.digest), grant.id, code.redirectURI, code.redirectURIExplicit, code.codeChallenge,
                    code.codeChallengeMethod?.rawValue, code.expiresAt.unixSeconds, code.nonce,
                ])
        }
    }

    /// Stores a new grant; `audiences` is its audience in stored form.
    static func insert(_ grant: GrantRecord, audiences: String, in db: Database) throws {
        try db.executeCached(
            sql: """
                INSERT INTO grants (id, client_id, user_id, scope, audiences, created_at, expires_at, session_id, auth_time, claims,
                    dpop_jkt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                grant.id, grant.clientID, grant.userID, grant.scope.description, audiences, grant.createdAt.unixSeconds,
                grant.expiresAt.unixSeconds, grant.sessionID, grant.authTime?.unixSeconds, grant.claimsRequest, grant.dpopKey,
            ])
    }

    public func withLockedCode<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (AuthorizationCodeRecord?) throws -> GrantStep<T>
    ) async throws -> T {
        try await take(step, at: now) { try Self.code(digest: digest, in: $0) }
    }

    public func refreshToken(digest: [UInt8]) async throws -> RefreshTokenRecord? {
        try await read { db in try Self.refreshToken(digest: digest, in: db) }
    }

    public func withLockedRefreshToken<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (RefreshTokenRecord?) throws -> GrantStep<T>
    ) async throws -> T {
        try await take(step, at: now) { try Self.refreshToken(digest: digest, in: $0) }
    }

    /// One lifecycle step as one write: `read`, decide, apply. The writer is serial, so
    /// what the step read no other write changes before it ends.
    func take<Record, T: Sendable>(
        _ step: @escaping @Sendable (Record?) throws -> GrantStep<T>, at now: Date,
        read: @escaping @Sendable (Database) throws -> Record?
    ) async throws -> T {
        try await write { db in
            let step = try step(try read(db))
            try Self.apply(step.writes, at: now, in: db)
            return step.result
        }
    }

    static func code(digest: [UInt8], in db: Database) throws -> AuthorizationCodeRecord? {
        try Row.fetchOne(
            db.cachedStatement(sql: """
                SELECT c.redirect_uri, c.redirect_uri_explicit, c.code_challenge, c.code_challenge_method, c.expires_at,
                    c.consumed_at, c.nonce, \(grantColumns)
                FROM authorization_codes c JOIN grants g ON g.id = c.grant_id WHERE c.digest = ?
                """),
            arguments: [Data(digest)]
        ).map { row in
            let method: String? = row[3]
            let consumedAt: Int64? = row[5]
            return AuthorizationCodeRecord(
                digest: digest, grant: try grant(from: row, after: 7), redirectURI: row[0], redirectURIExplicit: row[1],
                codeChallenge: row[2], codeChallengeMethod: method.flatMap(PKCE.Method.init(rawValue:)),
                expiresAt: Date(unixSeconds: row[4]), consumedAt: consumedAt.map(Date.init(unixSeconds:)), nonce: row[6])
        }
    }

    static func refreshToken(digest: [UInt8], in db: Database) throws -> RefreshTokenRecord? {
        try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT r.scope, r.issued_at, r.idle_expires_at, r.rotated_at, r.grace_used,
                        CASE WHEN r.rotated_at IS NULL THEN NULL ELSE
                            (SELECT s.digest FROM refresh_tokens s WHERE s.digest = r.successor_digest AND s.rotated_at IS NULL) END,
                        \(grantColumns)
                    FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.digest = ?
                    """),
            arguments: [Data(digest)]
        ).map { row in
            let rotatedAt: Int64? = row[3]
            let liveSuccessor: Data? = row[5]
            return RefreshTokenRecord(
                digest: digest, grant: try grant(from: row, after: 6), scope: StoredForm.scope(row[0]),
                issuedAt: Date(unixSeconds: row[1]), idleExpiresAt: Date(unixSeconds: row[2]),
                rotatedAt: rotatedAt.map(Date.init(unixSeconds:)), graceUsed: row[4], liveSuccessor: liveSuccessor.map { [UInt8]($0) })
        }
    }

    /// Applies the lifecycle's writes. Each conditional one must change its row: the
    /// serial writer makes that so, and a write that does not rolls the step back.
    static func apply(_ writes: [GrantWrite], at now: Date, in db: Database) throws {
        let seconds = now.unixSeconds
        for write in writes {
            switch write {
            case .consumeCode(let digest):
                try db.executeCached(
                    sql: "UPDATE authorization_codes SET consumed_at = ? WHERE digest = ? AND consumed_at IS NULL",
                    arguments: [seconds, Data(digest)])
                try expectOneChange(db)
            case .extendGrant(let id, let end):
                try db.executeCached(
                    sql: "UPDATE grants SET expires_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [end.unixSeconds, id])
            case .insertRefreshToken(let token, let grantID):
                try insert(token, grantID: grantID, at: now, in: db)
            case .rotateRefreshToken(let digest, let successor):
                try db.executeCached(
                    sql: "UPDATE refresh_tokens SET rotated_at = ?, successor_digest = ? WHERE digest = ? AND rotated_at IS NULL",
                    arguments: [seconds, Data(successor), Data(digest)])
                try expectOneChange(db)
            case .spendGrace(let digest, let successor):
                try db.executeCached(
                    sql: "UPDATE refresh_tokens SET grace_used = 1, successor_digest = ? WHERE digest = ? AND grace_used = 0",
                    arguments: [Data(successor), Data(digest)])
                try expectOneChange(db)
            case .retireRefreshToken(let digest):
                try db.executeCached(
                    sql: "UPDATE refresh_tokens SET rotated_at = ?, grace_used = 1 WHERE digest = ? AND rotated_at IS NULL",
                    arguments: [seconds, Data(digest)])
                try expectOneChange(db)
            case .revokeGrant(let id):
                try revokeGrant(id: id, at: now, in: db)
            case .bindGrant(let id, let key):
                try db.executeCached(sql: "UPDATE grants SET dpop_jkt = ? WHERE id = ? AND dpop_jkt IS NULL", arguments: [key, id])
                try expectOneChange(db)
            case .recordDevicePoll(let digest, let interval):
                try db.executeCached(
                    sql: "UPDATE device_authorizations SET last_polled_at = ?, poll_interval = ? WHERE device_code_digest = ?",
                    arguments: [seconds, interval, Data(digest)])
            case .redeemDeviceCode(let digest):
                try db.executeCached(
                    sql: "UPDATE device_authorizations SET redeemed_at = ? WHERE device_code_digest = ? AND redeemed_at IS NULL",
                    arguments: [seconds, Data(digest)])
                try expectOneChange(db)
            }
        }
    }

    static func expectOneChange(_ db: Database) throws {
        guard db.changesCount == 1 else { throw StoreError(description: "a grant write found its row changed under the lock") }
    }

    static func revokeGrant(id: String, at now: Date, in db: Database) throws {
        try db.executeCached(sql: "UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [now.unixSeconds, id])
    }

    public func revokeGrant(id: String, at now: Date) async throws {
        try await write { db in try Self.revokeGrant(id: id, at: now, in: db) }
    }

    public func activeGrantEnd(id: String, at now: Date) async throws -> Date? {
        try await read { db in
            try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT expires_at FROM grants WHERE id = ? AND revoked_at IS NULL AND expires_at > ?"),
                arguments: [id, now.unixSeconds]
            ).map(Date.init(unixSeconds:))
        }
    }

    public func purgeExpired(before now: Date, limit: Int) async throws -> Int {
        try await write { db in
            let seconds = now.unixSeconds
            // Codes and refresh tokens of a purged grant go with it (ON DELETE CASCADE).
            // Ended and revoked grants are asked for apart, so each finds its index.
            try db.executeCached(
                sql: "DELETE FROM grants WHERE id IN (SELECT id FROM grants WHERE expires_at < ? LIMIT ?)", arguments: [seconds, limit])
            var purged = db.changesCount
            try db.executeCached(
                sql: "DELETE FROM grants WHERE id IN (SELECT id FROM grants WHERE revoked_at IS NOT NULL LIMIT ?)", arguments: [limit])
            purged += db.changesCount
            // A refresh token past its idle lifetime can never be used, rotated or not.
            try db.executeCached(
                sql: "DELETE FROM refresh_tokens WHERE digest IN (SELECT digest FROM refresh_tokens WHERE idle_expires_at < ? LIMIT ?)",
                arguments: [seconds, limit])
            purged += db.changesCount
            try db.executeCached(
                sql: "DELETE FROM sessions WHERE digest IN (SELECT digest FROM sessions WHERE expires_at < ? LIMIT ?)",
                arguments: [seconds, limit])
            purged += db.changesCount
            // Back-channel logouts whose every attempt failed, once the last one's lease is over.
            try db.executeCached(
                sql: """
                    DELETE FROM backchannel_logouts WHERE (client_id, sid) IN
                        (SELECT client_id, sid FROM backchannel_logouts WHERE due_at < ? AND attempts >= ? LIMIT ?)
                    """,
                arguments: [seconds, PendingBackchannelLogout.maximumAttempts, limit])
            purged += db.changesCount
            try db.executeCached(
                sql: """
                    DELETE FROM device_authorizations WHERE device_code_digest IN
                        (SELECT device_code_digest FROM device_authorizations WHERE expires_at < ? LIMIT ?)
                    """,
                arguments: [seconds - DeviceAuthorizationRecord.keptAfterExpiry, limit])
            purged += db.changesCount
            return purged
        }
    }

    static func insert(_ token: NewRefreshToken, grantID: String, at now: Date, in db: Database) throws {
        try db.executeCached(
            sql: "INSERT INTO refresh_tokens (digest, grant_id, scope, issued_at, idle_expires_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [Data(token.digest), grantID, token.scope.description, now.unixSeconds, token.idleExpiresAt.unixSeconds])
    }

    /// The grant in `row`'s `grantColumns`, which follow its first `offset` columns.
    static func grant(from row: Row, after offset: Int) throws -> GrantRecord {
        let revokedAt: Int64? = row[offset + 7]
        let authTime: Int64? = row[offset + 9]
        return GrantRecord(
            id: row[offset], clientID: row[offset + 1], userID: row[offset + 2], scope: StoredForm.scope(row[offset + 3]),
            audience: try StoredForm.strings(row[offset + 4]), createdAt: Date(unixSeconds: row[offset + 5]),
            expiresAt: Date(unixSeconds: row[offset + 6]), revokedAt: revokedAt.map(Date.init(unixSeconds:)), sessionID: row[offset + 8],
            authTime: authTime.map(Date.init(unixSeconds:)), claimsRequest: row[offset + 10], dpopKey: row[offset + 11])
    }
}
