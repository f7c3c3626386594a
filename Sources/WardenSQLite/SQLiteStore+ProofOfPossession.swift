import Foundation
import GRDB
import WardenCore
import WardenMigrations

extension SQLiteStore: ProofOfPossessionRepository {
    public func spendJTI(digest: [UInt8], kind: UsedJTIKind, expiresAt: Date, now: Date) async throws -> Bool {
        // One statement is both the check and the claim: an expired use may be taken over.
        try await write { db in
            try db.executeCached(
                sql: """
                    INSERT INTO used_jtis (digest, kind, expires_at) VALUES (?, ?, ?)
                    ON CONFLICT (digest) DO UPDATE SET expires_at = excluded.expires_at WHERE used_jtis.expires_at < ?
                    """,
                arguments: [Data(digest), kind.rawValue, expiresAt.unixSeconds, now.unixSeconds])
            return db.changesCount == 1
        }
    }

    public func insertPushedRequest(_ request: PushedAuthorizationRequest) async throws {
        try await write { db in
            try db.executeCached(
                sql: "INSERT INTO pushed_authorization_requests (digest, client_id, parameters, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [Data(request.digest), request.clientID, request.parameters, request.expiresAt.unixSeconds])
        }
    }

    public func pushedRequest(digest: [UInt8], now: Date) async throws -> PushedAuthorizationRequest? {
        try await read { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: "SELECT client_id, parameters, expires_at FROM pushed_authorization_requests WHERE digest = ? AND expires_at > ?"),
                arguments: [Data(digest), now.unixSeconds]
            ).map { row in
                PushedAuthorizationRequest(
                    digest: digest, clientID: row[0], parameters: row[1], expiresAt: Date(unixSeconds: row[2]))
            }
        }
    }

    public func consumePushedRequest(digest: [UInt8]) async throws -> Bool {
        try await write { db in
            try db.executeCached(sql: "DELETE FROM pushed_authorization_requests WHERE digest = ?", arguments: [Data(digest)])
            return db.changesCount == 1
        }
    }

    public func serverSecret(name: String, make: @Sendable () -> [UInt8]) async throws -> [UInt8] {
        let candidate = Data(make())
        return try await write { db in
            try db.executeCached(
                sql: "INSERT INTO server_secrets (name, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                arguments: [name, candidate, Date().unixSeconds])
            let secret = try Data.fetchOne(db.cachedStatement(sql: "SELECT secret FROM server_secrets WHERE name = ?"), arguments: [name])
            return Array(secret ?? candidate)
        }
    }

    public func purgeExpiredProofs(before now: Date, limit: Int) async throws -> Int {
        try await write { db in
            var removed = 0
            for table in ["used_jtis", "pushed_authorization_requests"] {
                try db.executeCached(
                    sql: "DELETE FROM \(table) WHERE digest IN (SELECT digest FROM \(table) WHERE expires_at < ? LIMIT ?)",
                    arguments: [now.unixSeconds, limit])
                removed += db.changesCount
            }
            return removed
        }
    }
}
