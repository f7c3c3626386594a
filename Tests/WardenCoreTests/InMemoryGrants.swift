import Foundation
import Synchronization
import WardenCore

/// A hand-written in-memory grant store with the same single-winner semantics as the SQL one.
final class InMemoryGrants: GrantRepository, ConsentRepository {
    struct StoredRefresh {
        var grantID: String
        var scope: Scope
        var issuedAt: Date
        var idleExpiresAt: Date
        var rotatedAt: Date?
        var successor: [UInt8]?
        var graceUsed = false
    }

    struct State {
        var grants: [String: GrantRecord] = [:]
        var codes: [[UInt8]: AuthorizationCodeRecord] = [:]
        var refresh: [[UInt8]: StoredRefresh] = [:]
        var consents: [String: Scope] = [:]
    }

    let state = Mutex(State())

    func insert(grant: GrantRecord, code: AuthorizationCodeRecord) async throws {
        state.withLock {
            $0.grants[grant.id] = grant
            $0.codes[code.digest] = code
        }
    }

    func authorizationCode(digest: [UInt8]) async throws -> AuthorizationCodeRecord? {
        state.withLock { state in
            guard var code = state.codes[digest], let grant = state.grants[code.grant.id] else { return nil }
            code.grant = grant
            return code
        }
    }

    func redeem(codeDigest: [UInt8], at now: Date, grantExpiresAt: Date, refreshToken: NewRefreshToken?) async throws -> Bool {
        state.withLock { state in
            guard let code = state.codes[codeDigest], code.consumedAt == nil else { return false }
            state.codes[codeDigest]?.consumedAt = now
            state.grants[code.grant.id]?.expiresAt = grantExpiresAt
            if let refreshToken {
                state.refresh[refreshToken.digest] = StoredRefresh(
                    grantID: code.grant.id, scope: refreshToken.scope, issuedAt: now, idleExpiresAt: refreshToken.idleExpiresAt)
            }
            return true
        }
    }

    func refreshToken(digest: [UInt8]) async throws -> RefreshTokenRecord? {
        state.withLock { state in
            guard let stored = state.refresh[digest], let grant = state.grants[stored.grantID] else { return nil }
            return RefreshTokenRecord(
                digest: digest, grant: grant, scope: stored.scope, issuedAt: stored.issuedAt, idleExpiresAt: stored.idleExpiresAt,
                rotatedAt: stored.rotatedAt, graceUsed: stored.graceUsed)
        }
    }

    func rotate(refreshTokenDigest digest: [UInt8], at now: Date, successor: NewRefreshToken) async throws -> Bool {
        state.withLock { state in
            guard let stored = state.refresh[digest], stored.rotatedAt == nil else { return false }
            state.refresh[digest]?.rotatedAt = now
            state.refresh[digest]?.successor = successor.digest
            state.refresh[successor.digest] = StoredRefresh(
                grantID: stored.grantID, scope: successor.scope, issuedAt: now, idleExpiresAt: successor.idleExpiresAt)
            return true
        }
    }

    func replayWithinGrace(refreshTokenDigest digest: [UInt8], at now: Date, successor: NewRefreshToken) async throws -> Bool {
        state.withLock { state in
            guard let stored = state.refresh[digest], stored.rotatedAt != nil, !stored.graceUsed, let previous = stored.successor,
                state.refresh[previous]?.rotatedAt == nil
            else { return false }
            state.refresh[previous]?.rotatedAt = now
            state.refresh[previous]?.graceUsed = true
            state.refresh[digest]?.graceUsed = true
            state.refresh[digest]?.successor = successor.digest
            state.refresh[successor.digest] = StoredRefresh(
                grantID: stored.grantID, scope: successor.scope, issuedAt: now, idleExpiresAt: successor.idleExpiresAt)
            return true
        }
    }

    func revokeGrant(id: String, at now: Date) async throws {
        state.withLock { state in
            if state.grants[id]?.revokedAt == nil { state.grants[id]?.revokedAt = now }
        }
    }

    /// How many grants were revoked, for `InMemoryChanges`.
    var revocationCount: Int64 { state.withLock { Int64($0.grants.values.filter { $0.revokedAt != nil }.count) } }

    func activeGrantEnd(id: String, at now: Date) async throws -> Date? {
        state.withLock { state in state.grants[id].flatMap { $0.isActive(at: now) ? $0.expiresAt : nil } }
    }

    func purgeExpired(before now: Date, limit: Int) async throws -> Int { 0 }

    func consentedScope(userID: String, clientID: String) async throws -> Scope? {
        state.withLock { $0.consents["\(userID)/\(clientID)"] }
    }

    func rememberConsent(userID: String, clientID: String, scope: Scope, at now: Date) async throws {
        state.withLock { state in
            let key = "\(userID)/\(clientID)"
            state.consents[key] = Scope(tokens: (state.consents[key]?.tokens ?? []) + scope.tokens)
        }
    }
}
