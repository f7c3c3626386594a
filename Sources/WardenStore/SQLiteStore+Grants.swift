import Foundation
import GRDB
import WardenCore

extension SQLiteStore: GrantRepository {
    /// The grant's columns, read by position after a code's or refresh token's: a lookup
    /// by name compares names case-insensitively, which cost more than the query here.
    static let grantColumns = "g.id, g.client_id, g.user_id, g.scope, g.audiences, g.created_at, g.expires_at, g.revoked_at"

    public func insert(grant: GrantRecord, code: AuthorizationCodeRecord) async throws {
        let audiences = try StoredForm.json(grant.audience)
        try await write { db in
            try db.executeCached(
                sql: """
                    INSERT INTO grants (id, client_id, user_id, scope, audiences, created_at, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    grant.id, grant.clientID, grant.userID, grant.scope.description, audiences, grant.createdAt.unixSeconds,
                    grant.expiresAt.unixSeconds,
                ])
            try db.executeCached(
                sql: """
                    INSERT INTO authorization_codes (digest, grant_id, redirect_uri, redirect_uri_explicit, code_challenge,
                        code_challenge_method, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    Data(code.digest), grant.id, code.redirectURI, code.redirectURIExplicit, code.codeChallenge,
                    code.codeChallengeMethod?.rawValue, code.expiresAt.unixSeconds,
                ])
        }
    }

    public func exchangeCode(
        digest: [UInt8], at now: Date, decide: @escaping @Sendable (AuthorizationCodeRecord) throws -> CodeUse
    ) async throws -> TokenExchange<AuthorizationCodeRecord> {
        try await write { db in
            guard let record = try Self.code(digest: digest, in: db) else { return .unknown }
            if case .redeem(let grantExpiresAt, let refreshToken) = try decide(record) {
                try db.executeCached(
                    sql: "UPDATE authorization_codes SET consumed_at = ? WHERE digest = ? AND consumed_at IS NULL",
                    arguments: [now.unixSeconds, Data(digest)])
                if db.changesCount == 1 {
                    try db.executeCached(
                        sql: "UPDATE grants SET expires_at = ? WHERE id = ? AND revoked_at IS NULL",
                        arguments: [grantExpiresAt.unixSeconds, record.grant.id])
                    if let refreshToken { try Self.insert(refreshToken, grantID: record.grant.id, at: now, in: db) }
                    return .exchanged(record)
                }
            }
            try Self.revokeGrant(id: record.grant.id, at: now, in: db)
            return .reused(record)
        }
    }

    public func refreshToken(digest: [UInt8]) async throws -> RefreshTokenRecord? {
        try await pool.read { db in try Self.refreshToken(digest: digest, in: db) }
    }

    public func exchangeRefreshToken(
        digest: [UInt8], at now: Date, decide: @escaping @Sendable (RefreshTokenRecord) throws -> RefreshTokenUse
    ) async throws -> TokenExchange<RefreshTokenRecord> {
        try await write { db in
            guard let record = try Self.refreshToken(digest: digest, in: db) else { return .unknown }
            let done: Bool
            switch try decide(record) {
            case .rotate(let successor): done = try Self.rotate(digest, successor: successor, grantID: record.grant.id, at: now, in: db)
            case .replayWithinGrace(let successor):
                done = try Self.replayWithinGrace(digest, successor: successor, grantID: record.grant.id, at: now, in: db)
            case .reuse: done = false
            }
            if done { return .exchanged(record) }
            try Self.revokeGrant(id: record.grant.id, at: now, in: db)
            return .reused(record)
        }
    }

    static func code(digest: [UInt8], in db: Database) throws -> AuthorizationCodeRecord? {
        try Row.fetchOne(
            db.cachedStatement(sql: """
                SELECT c.redirect_uri, c.redirect_uri_explicit, c.code_challenge, c.code_challenge_method, c.expires_at,
                    c.consumed_at, \(grantColumns)
                FROM authorization_codes c JOIN grants g ON g.id = c.grant_id WHERE c.digest = ?
                """),
            arguments: [Data(digest)]
        ).map { row in
            let method: String? = row[3]
            let consumedAt: Int64? = row[5]
            return AuthorizationCodeRecord(
                digest: digest, grant: try grant(from: row, after: 6), redirectURI: row[0], redirectURIExplicit: row[1],
                codeChallenge: row[2], codeChallengeMethod: method.flatMap(PKCE.Method.init(rawValue:)),
                expiresAt: Date(unixSeconds: row[4]), consumedAt: consumedAt.map(Date.init(unixSeconds:)))
        }
    }

    static func refreshToken(digest: [UInt8], in db: Database) throws -> RefreshTokenRecord? {
        try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT r.scope, r.issued_at, r.idle_expires_at, r.rotated_at, r.grace_used, \(grantColumns)
                    FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.digest = ?
                    """),
            arguments: [Data(digest)]
        ).map { row in
            let rotatedAt: Int64? = row[3]
            return RefreshTokenRecord(
                digest: digest, grant: try grant(from: row, after: 5), scope: StoredForm.scope(row[0]),
                issuedAt: Date(unixSeconds: row[1]), idleExpiresAt: Date(unixSeconds: row[2]),
                rotatedAt: rotatedAt.map(Date.init(unixSeconds:)), graceUsed: row[4])
        }
    }

    /// Marks `digest` rotated if it is not yet and stores its successor; false when it was rotated already.
    static func rotate(_ digest: [UInt8], successor: NewRefreshToken, grantID: String, at now: Date, in db: Database) throws -> Bool {
        try db.executeCached(
            sql: "UPDATE refresh_tokens SET rotated_at = ?, successor_digest = ? WHERE digest = ? AND rotated_at IS NULL",
            arguments: [now.unixSeconds, Data(successor.digest), Data(digest)])
        guard db.changesCount == 1 else { return false }
        try insert(successor, grantID: grantID, at: now, in: db)
        return true
    }

    /// Spends the grace of a rotated token, killing its unused successor; false otherwise.
    static func replayWithinGrace(
        _ digest: [UInt8], successor: NewRefreshToken, grantID: String, at now: Date, in db: Database
    ) throws -> Bool {
        guard let previous = try Data.fetchOne(
            db.cachedStatement(sql: "SELECT successor_digest FROM refresh_tokens WHERE digest = ?"), arguments: [Data(digest)])
        else { return false }
        // Only while the successor is unused: a successor that was itself rotated means
        // the chain moved on, and the replay is theft, not a lost response.
        try db.executeCached(
            sql: """
                UPDATE refresh_tokens SET grace_used = 1, successor_digest = ?
                WHERE digest = ? AND rotated_at IS NOT NULL AND grace_used = 0
                  AND EXISTS (SELECT 1 FROM refresh_tokens WHERE digest = ? AND rotated_at IS NULL)
                """,
            arguments: [Data(successor.digest), Data(digest), previous])
        guard db.changesCount == 1 else { return false }
        // The earlier successor is dead; kept as rotated so that presenting it counts as reuse.
        try db.executeCached(
            sql: "UPDATE refresh_tokens SET rotated_at = ?, grace_used = 1 WHERE digest = ?", arguments: [now.unixSeconds, previous])
        try insert(successor, grantID: grantID, at: now, in: db)
        return true
    }

    static func revokeGrant(id: String, at now: Date, in db: Database) throws {
        try db.executeCached(sql: "UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [now.unixSeconds, id])
    }

    public func revokeGrant(id: String, at now: Date) async throws {
        try await write { db in try Self.revokeGrant(id: id, at: now, in: db) }
    }

    public func activeGrantEnd(id: String, at now: Date) async throws -> Date? {
        try await pool.read { db in
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
            try db.executeCached(
                sql: """
                    DELETE FROM grants WHERE id IN (
                        SELECT id FROM grants WHERE expires_at < ? OR revoked_at IS NOT NULL LIMIT ?)
                    """,
                arguments: [seconds, limit])
            var purged = db.changesCount
            // A refresh token past its idle lifetime can never be used, rotated or not.
            try db.executeCached(
                sql: "DELETE FROM refresh_tokens WHERE digest IN (SELECT digest FROM refresh_tokens WHERE idle_expires_at < ? LIMIT ?)",
                arguments: [seconds, limit])
            purged += db.changesCount
            try db.executeCached(
                sql: "DELETE FROM sessions WHERE digest IN (SELECT digest FROM sessions WHERE expires_at < ? LIMIT ?)",
                arguments: [seconds, limit])
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
        return GrantRecord(
            id: row[offset], clientID: row[offset + 1], userID: row[offset + 2], scope: StoredForm.scope(row[offset + 3]),
            audience: try StoredForm.strings(row[offset + 4]), createdAt: Date(unixSeconds: row[offset + 5]),
            expiresAt: Date(unixSeconds: row[offset + 6]), revokedAt: revokedAt.map(Date.init(unixSeconds:)))
    }
}
