import Foundation
import Synchronization
import WardenCore

/// A hand-written in-memory grant store for Core's tests: one lock stands for the
/// backends' transactions, and it applies `GrantLifecycle`'s writes as they do. The
/// store behaviour suite holds it to the same rules as the real backends.
public final class InMemoryGrants: GrantRepository, ConsentRepository {
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
        var users: [String: User] = [:]
        var devices: [[UInt8]: DeviceAuthorizationRecord] = [:]
    }

    struct ChangedUnderLock: Error { let write: GrantWrite }

    let state = Mutex(State())

    public init() {}

    /// Makes `user` known, as the grants' foreign key to users would require.
    public func add(_ user: User) {
        state.withLock { $0.users[user.id] = user }
    }

    public func userAndClaimsRequest(grantID: String) async throws -> (User, String?)? {
        state.withLock { state in
            state.grants[grantID].flatMap { grant in state.users[grant.userID].map { ($0, grant.claimsRequest) } }
        }
    }

    public func insert(grant: GrantRecord, code: AuthorizationCodeRecord) async throws {
        state.withLock {
            $0.grants[grant.id] = grant
            $0.codes[code.digest] = code
        }
    }

    public func withLockedCode<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (AuthorizationCodeRecord?) throws -> GrantStep<T>
    ) async throws -> T {
        try state.withLock { state in
            var record = state.codes[digest]
            if let id = record?.grant.id, let grant = state.grants[id] { record?.grant = grant }
            let step = try step(record)
            try Self.apply(step.writes, at: now, to: &state)
            return step.result
        }
    }

    public func refreshToken(digest: [UInt8]) async throws -> RefreshTokenRecord? {
        state.withLock { Self.refreshRecord(digest, in: $0) }
    }

    public func withLockedRefreshToken<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (RefreshTokenRecord?) throws -> GrantStep<T>
    ) async throws -> T {
        try state.withLock { state in
            let step = try step(Self.refreshRecord(digest, in: state))
            try Self.apply(step.writes, at: now, to: &state)
            return step.result
        }
    }

    /// Applies the writes to a copy, kept only if every one of them applied.
    static func apply(_ writes: [GrantWrite], at now: Date, to state: inout State) throws {
        var next = state
        for write in writes {
            switch write {
            case .consumeCode(let digest):
                guard next.codes[digest]?.consumedAt == nil else { throw ChangedUnderLock(write: write) }
                next.codes[digest]?.consumedAt = now
            case .extendGrant(let id, let end):
                if next.grants[id]?.revokedAt == nil { next.grants[id]?.expiresAt = end }
            case .insertRefreshToken(let token, let grantID):
                next.refresh[token.digest] = StoredRefresh(
                    grantID: grantID, scope: token.scope, issuedAt: now, idleExpiresAt: token.idleExpiresAt)
            case .rotateRefreshToken(let digest, let successor):
                guard next.refresh[digest]?.rotatedAt == nil else { throw ChangedUnderLock(write: write) }
                next.refresh[digest]?.rotatedAt = now
                next.refresh[digest]?.successor = successor
            case .spendGrace(let digest, let successor):
                guard next.refresh[digest]?.graceUsed == false else { throw ChangedUnderLock(write: write) }
                next.refresh[digest]?.graceUsed = true
                next.refresh[digest]?.successor = successor
            case .retireRefreshToken(let digest):
                guard next.refresh[digest]?.rotatedAt == nil else { throw ChangedUnderLock(write: write) }
                next.refresh[digest]?.rotatedAt = now
                next.refresh[digest]?.graceUsed = true
            case .revokeGrant(let id):
                if next.grants[id]?.revokedAt == nil { next.grants[id]?.revokedAt = now }
            case .bindGrant(let id, let key):
                guard next.grants[id]?.dpopKey == nil else { throw ChangedUnderLock(write: write) }
                next.grants[id]?.dpopKey = key
            case .recordDevicePoll(let digest, let interval):
                next.devices[digest]?.lastPolledAt = now
                next.devices[digest]?.interval = interval
            case .redeemDeviceCode(let digest):
                guard next.devices[digest]?.redeemedAt == nil else { throw ChangedUnderLock(write: write) }
                next.devices[digest]?.redeemedAt = now
            }
        }
        state = next
    }

    private static func refreshRecord(_ digest: [UInt8], in state: State) -> RefreshTokenRecord? {
        guard let stored = state.refresh[digest], let grant = state.grants[stored.grantID] else { return nil }
        let liveSuccessor = stored.successor.flatMap { state.refresh[$0]?.rotatedAt == nil ? $0 : nil }
        return RefreshTokenRecord(
            digest: digest, grant: grant, scope: stored.scope, issuedAt: stored.issuedAt, idleExpiresAt: stored.idleExpiresAt,
            rotatedAt: stored.rotatedAt, graceUsed: stored.graceUsed, liveSuccessor: liveSuccessor)
    }

    public func revokeGrant(id: String, at now: Date) async throws {
        state.withLock { state in
            if state.grants[id]?.revokedAt == nil { state.grants[id]?.revokedAt = now }
        }
    }

    /// How many grants were revoked, for `InMemoryChanges`.
    public var revocationCount: Int64 { state.withLock { Int64($0.grants.values.filter { $0.revokedAt != nil }.count) } }

    public func activeGrantEnd(id: String, at now: Date) async throws -> Date? {
        state.withLock { state in state.grants[id].flatMap { $0.isActive(at: now) ? $0.expiresAt : nil } }
    }

    public func purgeExpired(before now: Date, limit: Int) async throws -> Int { 0 }

    public func consentedScope(userID: String, clientID: String) async throws -> Scope? {
        state.withLock { $0.consents["\(userID)/\(clientID)"] }
    }

    public func rememberConsent(userID: String, clientID: String, scope: Scope, at now: Date) async throws {
        state.withLock { state in
            let key = "\(userID)/\(clientID)"
            state.consents[key] = Scope(tokens: (state.consents[key]?.tokens ?? []) + scope.tokens)
        }
    }
}
