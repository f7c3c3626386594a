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

    func exchangeCode(
        digest: [UInt8], at now: Date, decide: @escaping @Sendable (AuthorizationCodeRecord) throws -> CodeUse
    ) async throws -> TokenExchange<AuthorizationCodeRecord> {
        try state.withLock { state in
            guard var record = state.codes[digest], let grant = state.grants[record.grant.id] else { return .unknown }
            record.grant = grant
            if case .redeem(let grantExpiresAt, let refreshToken) = try decide(record), record.consumedAt == nil {
                state.codes[digest]?.consumedAt = now
                state.grants[grant.id]?.expiresAt = grantExpiresAt
                if let refreshToken {
                    state.refresh[refreshToken.digest] = StoredRefresh(
                        grantID: grant.id, scope: refreshToken.scope, issuedAt: now, idleExpiresAt: refreshToken.idleExpiresAt)
                }
                return .exchanged(record)
            }
            if state.grants[grant.id]?.revokedAt == nil { state.grants[grant.id]?.revokedAt = now }
            return .reused(record)
        }
    }

    func refreshToken(digest: [UInt8]) async throws -> RefreshTokenRecord? {
        state.withLock { Self.refreshRecord(digest, in: $0) }
    }

    func exchangeRefreshToken(
        digest: [UInt8], at now: Date, decide: @escaping @Sendable (RefreshTokenRecord) throws -> RefreshTokenUse
    ) async throws -> TokenExchange<RefreshTokenRecord> {
        try state.withLock { state in
            guard let record = Self.refreshRecord(digest, in: state), let stored = state.refresh[digest] else { return .unknown }
            switch try decide(record) {
            case .rotate(let successor) where stored.rotatedAt == nil:
                state.refresh[digest]?.rotatedAt = now
                state.refresh[digest]?.successor = successor.digest
                state.refresh[successor.digest] = StoredRefresh(
                    grantID: stored.grantID, scope: successor.scope, issuedAt: now, idleExpiresAt: successor.idleExpiresAt)
                return .exchanged(record)
            case .replayWithinGrace(let successor)
            where stored.rotatedAt != nil && !stored.graceUsed && stored.successor.map { state.refresh[$0]?.rotatedAt == nil } == true:
                if let previous = stored.successor {
                    state.refresh[previous]?.rotatedAt = now
                    state.refresh[previous]?.graceUsed = true
                }
                state.refresh[digest]?.graceUsed = true
                state.refresh[digest]?.successor = successor.digest
                state.refresh[successor.digest] = StoredRefresh(
                    grantID: stored.grantID, scope: successor.scope, issuedAt: now, idleExpiresAt: successor.idleExpiresAt)
                return .exchanged(record)
            default:
                if state.grants[stored.grantID]?.revokedAt == nil { state.grants[stored.grantID]?.revokedAt = now }
                return .reused(record)
            }
        }
    }

    private static func refreshRecord(_ digest: [UInt8], in state: State) -> RefreshTokenRecord? {
        guard let stored = state.refresh[digest], let grant = state.grants[stored.grantID] else { return nil }
        return RefreshTokenRecord(
            digest: digest, grant: grant, scope: stored.scope, issuedAt: stored.issuedAt, idleExpiresAt: stored.idleExpiresAt,
            rotatedAt: stored.rotatedAt, graceUsed: stored.graceUsed)
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
