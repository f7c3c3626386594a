import Foundation
import Testing
import WardenCore
import WardenServer
import WardenTestSupport

/// Where the grant lifecycle runs: each real backend, and the in-memory fake Core's tests use.
enum GrantBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, sqlite, postgres
    var testDescription: String { rawValue }
}

/// One behaviour for every grant store: `GrantLifecycle`'s rules, driven through each
/// backend's locked reads and writes, alone and under concurrency.
@Suite("Grant lifecycle on every store")
struct GrantLifecycleTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let clientID = "spa"

    /// A repository of `backend` whose client `spa` and user `u1` exist.
    func withGrants<T>(_ backend: GrantBackend, _ body: (any GrantRepository) async throws -> T) async throws -> T {
        guard let sql = Backend(rawValue: backend.rawValue) else { return try await body(InMemoryGrants()) }
        return try await withTemporaryStore(sql) { store in
            var client = try ClientRegistration(
                name: "spa", grantTypes: [.authorizationCode, .refreshToken], redirectURIs: ["http://127.0.0.1/cb"], scope: "profile",
                authMethod: ClientAuthMethod.none
            ).makeClient(now: now).client
            client.id = clientID
            try await store.insert(client)
            try await store.insert(User(id: "u1", username: "alice", passwordHash: "x", createdAt: now))
            return try await body(store)
        }
    }

    /// A new grant with an unredeemed code.
    func seed(_ grants: any GrantRepository) async throws -> (grant: GrantRecord, code: OpaqueToken) {
        try await newGrant(in: grants, clientID: clientID, userID: "u1", at: now)
    }

    /// Presents `code` as the code grant does, with `check` for the rest of the request.
    func redeem(
        _ code: OpaqueToken, to grants: any GrantRepository, refreshToken: OpaqueToken? = nil,
        check: @escaping @Sendable (AuthorizationCodeRecord) throws -> Void = { _ in }
    ) async throws -> CredentialUse<AuthorizationCodeRecord> {
        let (clientID, end, idle, refresh) = (clientID, now.addingTimeInterval(86_400), now.addingTimeInterval(3600), refreshToken?.digest)
        return try await grants.withLockedCode(digest: code.digest, at: now) { record in
            try GrantLifecycle.presentCode(
                record, clientID: clientID, grantExpiresAt: end, refreshToken: refresh, idleExpiresAt: idle, check: check)
        }
    }

    /// Presents refresh `token` at `now + after` seconds, to be replaced by `successor`.
    func refresh(
        _ token: OpaqueToken, to grants: any GrantRepository, successor: OpaqueToken = .generate(), after: TimeInterval = 0,
        grace: TimeInterval = 0, check: @escaping @Sendable (RefreshTokenRecord) throws -> Void = { _ in }
    ) async throws -> CredentialUse<RefreshTokenRecord> {
        let (clientID, at, idle) = (clientID, now.addingTimeInterval(after), now.addingTimeInterval(3600))
        return try await grants.withLockedRefreshToken(digest: token.digest, at: at) { record in
            try GrantLifecycle.presentRefreshToken(
                record, clientID: clientID, at: at, gracePeriod: grace, successor: successor.digest, idleExpiresAt: idle, check: check)
        }
    }

    /// A grant with its code redeemed for refresh token `first`.
    func redeemed(_ grants: any GrantRepository) async throws -> (grant: GrantRecord, first: OpaqueToken) {
        let (grant, code) = try await seed(grants)
        let first = OpaqueToken.generate()
        #expect(try await redeem(code, to: grants, refreshToken: first).isAccepted)
        return (grant, first)
    }

    func isLive(_ token: OpaqueToken, in grants: any GrantRepository) async throws -> Bool {
        guard let record = try await grants.refreshToken(digest: token.digest) else { return false }
        return record.rotatedAt == nil && record.grant.isActive(at: now)
    }

    @Test("a redemption extends the grant and stores the refresh token; a failed check changes nothing", arguments: GrantBackend.allCases)
    func redeem(_ backend: GrantBackend) async throws {
        struct Refused: Error {}
        try await withGrants(backend) { grants in
            let (grant, code) = try await seed(grants)
            let first = OpaqueToken.generate()
            await #expect(throws: Refused.self) { try await redeem(code, to: grants, refreshToken: first) { _ in throw Refused() } }
            #expect(try await grants.refreshToken(digest: first.digest) == nil)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == now.addingTimeInterval(60))

            guard case .accepted(let record) = try await redeem(code, to: grants, refreshToken: first) else {
                Issue.record("the code was not redeemed")
                return
            }
            #expect(record.grant == grant && record.consumedAt == nil)
            #expect(record.redirectURI == "http://127.0.0.1/cb" && record.redirectURIExplicit && record.codeChallengeMethod == .s256)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now.addingTimeInterval(3600)) == now.addingTimeInterval(86_400))
            #expect(try await isLive(first, in: grants))
        }
    }

    @Test("a redemption with a DPoP key binds the grant, which its refresh tokens then carry; a bound grant stays bound", arguments: GrantBackend.allCases)
    func dpopBinding(_ backend: GrantBackend) async throws {
        try await withGrants(backend) { grants in
            let (grant, code) = try await seed(grants)
            #expect(grant.dpopKey == nil)
            let first = OpaqueToken.generate()
            let (clientID, end, idle) = (clientID, now.addingTimeInterval(86_400), now.addingTimeInterval(3600))
            let use = try await grants.withLockedCode(digest: code.digest, at: now) { record in
                try GrantLifecycle.presentCode(
                    record, clientID: clientID, grantExpiresAt: end, refreshToken: first.digest, idleExpiresAt: idle, dpopKey: "jkt-1") { _ in }
            }
            #expect(use.isAccepted)
            #expect(try await grants.refreshToken(digest: first.digest)?.grant.dpopKey == "jkt-1")
            let second = OpaqueToken.generate()
            guard case .accepted(let record) = try await refresh(first, to: grants, successor: second) else {
                Issue.record("the refresh token was not accepted")
                return
            }
            #expect(record.grant.dpopKey == "jkt-1")
            #expect(try await grants.refreshToken(digest: second.digest)?.grant.dpopKey == "jkt-1")
            // Already bound: presenting a code of it again writes no second binding (it is reuse).
            let step = try GrantLifecycle.presentCode(
                AuthorizationCodeRecord(
                    digest: [1], grant: record.grant, redirectURI: "x", redirectURIExplicit: false, codeChallenge: nil,
                    codeChallengeMethod: nil, expiresAt: end),
                clientID: clientID, grantExpiresAt: end, refreshToken: nil, idleExpiresAt: idle, dpopKey: "jkt-2") { _ in }
            #expect(!step.writes.contains { if case .bindGrant = $0 { true } else { false } })
        }
    }

    @Test("another client's code is unknown to it and stays redeemable", arguments: GrantBackend.allCases)
    func otherClient(_ backend: GrantBackend) async throws {
        try await withGrants(backend) { grants in
            let (grant, code) = try await seed(grants)
            let use = try await grants.withLockedCode(digest: code.digest, at: now) { record in
                try GrantLifecycle.presentCode(
                    record, clientID: "other", grantExpiresAt: .distantFuture, refreshToken: nil, idleExpiresAt: .distantFuture) { _ in }
            }
            #expect(use.isUnknown)
            #expect(try await redeem(code, to: grants).isAccepted)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) != nil)
        }
    }

    @Test("a used code presented again revokes its grant, whatever else is wrong with the request", arguments: GrantBackend.allCases)
    func codeReuseFirst(_ backend: GrantBackend) async throws {
        struct WrongVerifier: Error {}
        try await withGrants(backend) { grants in
            let (grant, code) = try await seed(grants)
            #expect(try await redeem(code, to: grants).isAccepted)
            // The second presentation fails its check too; reuse is what counts.
            #expect(try await redeem(code, to: grants) { _ in throw WrongVerifier() }.isReused)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == nil)
        }
    }

    @Test("20 simultaneous redemptions of one code: exactly one wins, one refresh token exists, the rest revoke the grant", arguments: GrantBackend.allCases)
    func concurrentRedeem(_ backend: GrantBackend) async throws {
        try await withGrants(backend) { grants in
            let (grant, code) = try await seed(grants)
            let tokens = (0..<20).map { _ in OpaqueToken.generate() }
            let uses = try await withThrowingTaskGroup(of: CredentialUse<AuthorizationCodeRecord>.self) { group in
                for token in tokens { group.addTask { try await redeem(code, to: grants, refreshToken: token) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(uses.filter(\.isAccepted).count == 1)
            #expect(uses.filter(\.isReused).count == 19)
            var stored = 0
            for token in tokens where try await grants.refreshToken(digest: token.digest) != nil { stored += 1 }
            #expect(stored == 1)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == nil)
        }
    }

    @Test("a rotated refresh token presented again revokes the grant and every token of it", arguments: GrantBackend.allCases)
    func rotationAndReuse(_ backend: GrantBackend) async throws {
        try await withGrants(backend) { grants in
            let (grant, first) = try await redeemed(grants)
            let second = OpaqueToken.generate()
            #expect(try await refresh(first, to: grants, successor: second).isAccepted)
            #expect(try await !isLive(first, in: grants))
            #expect(try await isLive(second, in: grants))
            #expect(try await refresh(first, to: grants).isReused)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == nil)
            // The revoked grant's live token is dead too: no longer usable, so unknown.
            #expect(try await refresh(second, to: grants).isUnknown)
        }
    }

    @Test("reuse is detected before the scope is checked, so a stolen token cannot be probed", arguments: GrantBackend.allCases)
    func refreshReuseFirst(_ backend: GrantBackend) async throws {
        struct InvalidScope: Error {}
        try await withGrants(backend) { grants in
            let (grant, first) = try await redeemed(grants)
            await #expect(throws: InvalidScope.self) { try await refresh(first, to: grants) { _ in throw InvalidScope() } }
            #expect(try await isLive(first, in: grants))
            #expect(try await refresh(first, to: grants).isAccepted)
            #expect(try await refresh(first, to: grants) { _ in throw InvalidScope() }.isReused)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == nil)
        }
    }

    @Test("20 simultaneous rotations without grace: one wins, the rest revoke the grant, one successor stored", arguments: GrantBackend.allCases)
    func concurrentRotate(_ backend: GrantBackend) async throws {
        try await withGrants(backend) { grants in
            let (grant, first) = try await redeemed(grants)
            let successors = (0..<20).map { _ in OpaqueToken.generate() }
            let uses = try await withThrowingTaskGroup(of: CredentialUse<RefreshTokenRecord>.self) { group in
                for successor in successors { group.addTask { try await refresh(first, to: grants, successor: successor) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // One winner; the first loser revokes the grant, and later ones find it revoked
            // (PostgreSQL's waiters may still see it live and revoke it again: the same answer).
            #expect(uses.filter(\.isAccepted).count == 1)
            #expect(uses.filter(\.isReused).count >= 1)
            var stored = 0
            for token in successors where try await grants.refreshToken(digest: token.digest) != nil { stored += 1 }
            #expect(stored == 1)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == nil)
        }
    }

    @Test("two simultaneous uses inside the grace window: both answered, the grant lives, one token stays live", arguments: GrantBackend.allCases)
    func concurrentUsesInsideGrace(_ backend: GrantBackend) async throws {
        try await withGrants(backend) { grants in
            for _ in 0..<10 {
                let (grant, first) = try await redeemed(grants)
                let pair = [OpaqueToken.generate(), OpaqueToken.generate()]
                let uses = try await withThrowingTaskGroup(of: CredentialUse<RefreshTokenRecord>.self) { group in
                    for successor in pair { group.addTask { try await refresh(first, to: grants, successor: successor, grace: 30) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(uses.filter(\.isAccepted).count == 2)
                #expect(try await grants.activeGrantEnd(id: grant.id, at: now) != nil)
                var live = 0
                for token in pair where try await isLive(token, in: grants) { live += 1 }
                #expect(live == 1)
            }
        }
    }

    @Test("20 simultaneous uses inside the grace window: a rotation and one replay win, the third use revokes", arguments: GrantBackend.allCases)
    func manyUsesInsideGrace(_ backend: GrantBackend) async throws {
        try await withGrants(backend) { grants in
            let (grant, first) = try await redeemed(grants)
            let uses = try await withThrowingTaskGroup(of: CredentialUse<RefreshTokenRecord>.self) { group in
                for _ in 0..<20 { group.addTask { try await refresh(first, to: grants, grace: 30) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(uses.filter(\.isAccepted).count == 2)
            #expect(uses.filter(\.isReused).count >= 1)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == nil)
        }
    }

    @Test("a replay after the grace window, a second replay, or one after the successor was used all revoke", arguments: GrantBackend.allCases)
    func reuseAfterGrace(_ backend: GrantBackend) async throws {
        try await withGrants(backend) { grants in
            // Past the window.
            var (grant, first) = try await redeemed(grants)
            #expect(try await refresh(first, to: grants, grace: 30).isAccepted)
            #expect(try await refresh(first, to: grants, after: 31, grace: 30).isReused)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == nil)

            // Inside it, twice: the first replay kills the lost successor, the second is theft.
            (grant, first) = try await redeemed(grants)
            let (lost, replayed) = (OpaqueToken.generate(), OpaqueToken.generate())
            #expect(try await refresh(first, to: grants, successor: lost, grace: 30).isAccepted)
            #expect(try await refresh(first, to: grants, successor: replayed, after: 10, grace: 30).isAccepted)
            #expect(try await !isLive(lost, in: grants))
            #expect(try await isLive(replayed, in: grants))
            #expect(try await refresh(lost, to: grants, grace: 30).isReused)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == nil)

            // Inside it, after the successor moved the chain on.
            (grant, first) = try await redeemed(grants)
            let second = OpaqueToken.generate()
            #expect(try await refresh(first, to: grants, successor: second, grace: 30).isAccepted)
            #expect(try await refresh(second, to: grants, grace: 30).isAccepted)
            #expect(try await refresh(first, to: grants, after: 1, grace: 30).isReused)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == nil)
        }
    }

    @Test("a refresh token past its idle lifetime, of a revoked grant, or of another client is unknown and changes nothing", arguments: GrantBackend.allCases)
    func unusable(_ backend: GrantBackend) async throws {
        try await withGrants(backend) { grants in
            let (grant, first) = try await redeemed(grants)
            #expect(try await refresh(first, to: grants, after: 3600).isUnknown)
            let use = try await grants.withLockedRefreshToken(digest: first.digest, at: now) { [now] record in
                try GrantLifecycle.presentRefreshToken(
                    record, clientID: "other", at: now, gracePeriod: 0, successor: OpaqueToken.generate().digest,
                    idleExpiresAt: now.addingTimeInterval(3600)) { _ in }
            }
            #expect(use.isUnknown)
            #expect(try await isLive(first, in: grants))
            try await grants.revokeGrant(id: grant.id, at: now)
            #expect(try await refresh(first, to: grants).isUnknown)
            #expect(try await grants.activeGrantEnd(id: grant.id, at: now) == nil)
        }
    }
}

/// Stores a new grant of `clientID` and `userID` with an unredeemed PKCE code, as `/authorize` does.
func newGrant(in grants: any GrantRepository, clientID: String, userID: String, at now: Date) async throws
    -> (grant: GrantRecord, code: OpaqueToken)
{
    let grant = GrantRecord(
        id: RandomToken.timeOrderedIdentifier(at: now), clientID: clientID, userID: userID, scope: Scope(tokens: ["profile"]),
        audience: ["https://api"], createdAt: now, expiresAt: now.addingTimeInterval(60))
    let code = OpaqueToken.generate()
    try await grants.insert(
        grant: grant,
        code: AuthorizationCodeRecord(
            digest: code.digest, grant: grant, redirectURI: "http://127.0.0.1/cb", redirectURIExplicit: true,
            codeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", codeChallengeMethod: .s256,
            expiresAt: now.addingTimeInterval(60)))
    return (grant, code)
}

extension CredentialUse {
    var isAccepted: Bool { if case .accepted = self { true } else { false } }
    var isReused: Bool { if case .reused = self { true } else { false } }
    var isUnknown: Bool { if case .unknown = self { true } else { false } }
}
