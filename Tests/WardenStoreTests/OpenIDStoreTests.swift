import Foundation
import Testing
import WardenCore
import WardenMigrations
import WardenServer

/// What OpenID Connect keeps, held to the same rules on every backend: profiles, the
/// grant's session, `auth_time`, `claims` and the code's `nonce`, sessions by `sid`, and
/// the back-channel logout queue filled by whatever ends a session.
@Suite("OpenID Connect storage")
struct OpenIDStoreTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    struct World {
        var client: Client
        var quiet: Client
        var user: User
    }

    /// A client with a back-channel logout URI, one without, and a user with a profile.
    func seed(_ store: any WardenStorage) async throws -> World {
        var registration = ClientRegistration(
            name: "rp", grantTypes: [.authorizationCode], redirectURIs: ["https://rp.example/cb"], scope: "openid profile",
            authMethod: ClientAuthMethod.none)
        registration.idTokenSigningAlgorithm = .edDSA
        registration.postLogoutRedirectURIs = ["https://rp.example/bye"]
        registration.backchannelLogoutURI = "https://rp.example/bcl"
        let client = try registration.makeClient(now: now).client
        registration.backchannelLogoutURI = nil
        let quiet = try registration.makeClient(now: now).client
        try await store.insert(client)
        try await store.insert(quiet)
        let user = User(
            id: RandomToken.identifier(byteCount: 16), username: "alice", passwordHash: "x", createdAt: now,
            profile: UserProfile(name: "Alice Liddell", givenName: "Alice", email: "alice@example.com", emailVerified: true, updatedAt: now))
        try await store.insert(user)
        return World(client: client, quiet: quiet, user: user)
    }

    func session(_ store: any WardenStorage, user: User, sid: String) async throws -> BrowserSession {
        let session = BrowserSession(
            digest: OpaqueToken.generate().digest, sid: sid, userID: user.id, csrfToken: "c", authenticatedAt: now,
            expiresAt: now.addingTimeInterval(3600))
        try await store.insert(session, replacing: nil)
        return session
    }

    /// A grant given in session `sid` (an OpenID grant), with a nonce on its code.
    @discardableResult
    func grant(_ store: any WardenStorage, client: Client, user: User, sid: String?, scope: [String] = ["openid"]) async throws
        -> GrantRecord
    {
        let grant = GrantRecord(
            id: RandomToken.timeOrderedIdentifier(at: now), clientID: client.id, userID: user.id, scope: Scope(tokens: scope),
            audience: ["https://api"], createdAt: now, expiresAt: now.addingTimeInterval(60), sessionID: sid, authTime: now,
            claimsRequest: #"{"userinfo":{"email":null}}"#)
        try await store.insert(
            grant: grant,
            code: AuthorizationCodeRecord(
                digest: OpaqueToken.generate().digest, grant: grant, redirectURI: "https://rp.example/cb", redirectURIExplicit: true,
                codeChallenge: nil, codeChallengeMethod: nil, expiresAt: now.addingTimeInterval(60), nonce: "n-0S6_WzA2Mj"))
        return grant
    }

    @Test("clients, profiles, grants and codes keep what OpenID Connect adds", arguments: Backend.allCases)
    func roundTrip(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let world = try await seed(store)
            #expect(try await store.client(id: world.client.id) == world.client)
            #expect(try await store.user(id: world.user.id) == world.user)
            var changed = world.user.profile
            changed.name = nil
            changed.emailVerified = false
            changed.updatedAt = now.addingTimeInterval(5)
            #expect(try await store.updateProfile(username: "alice", changed))
            #expect(try await store.user(username: "alice")?.profile == changed)
            #expect(try await !store.updateProfile(username: "nobody", changed))

            let code = OpaqueToken.generate()
            let stored = GrantRecord(
                id: "g1", clientID: world.client.id, userID: world.user.id, scope: Scope(tokens: ["openid"]), audience: ["https://api"],
                createdAt: now, expiresAt: now.addingTimeInterval(60), sessionID: "sid-1", authTime: now.addingTimeInterval(-30),
                claimsRequest: #"{"id_token":{"name":null}}"#)
            try await store.insert(
                grant: stored,
                code: AuthorizationCodeRecord(
                    digest: code.digest, grant: stored, redirectURI: "https://rp.example/cb", redirectURIExplicit: false, codeChallenge: nil,
                    codeChallengeMethod: nil, expiresAt: now.addingTimeInterval(60), nonce: "abc"))
            let read = try await store.withLockedCode(digest: code.digest, at: now) { GrantStep($0) }
            #expect(read?.nonce == "abc")
            #expect(read?.grant == stored)
            let (user, claims) = try #require(try await store.userAndClaimsRequest(grantID: "g1"))
            #expect(user.id == world.user.id)
            #expect(claims == stored.claimsRequest)
        }
    }

    @Test("the same user signing in again keeps the sid under a new cookie; sessions are listed by user", arguments: Backend.allCases)
    func renewal(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let world = try await seed(store)
            let first = try await session(store, user: world.user, sid: "sid-a")
            var renewed = first
            renewed.digest = OpaqueToken.generate().digest
            try await store.insert(renewed, replacing: first.digest)
            #expect(try await store.session(digest: first.digest, at: now) == nil)
            #expect(try await store.session(digest: renewed.digest, at: now)?.sid == "sid-a")
            let summaries = try await store.sessionSummaries(userID: world.user.id, at: now)
            #expect(summaries.map(\.sid) == ["sid-a"] && summaries.first?.username == "alice")
            #expect(try await store.sessionSummaries(userID: "someone-else", at: now).isEmpty)
            #expect(try await store.sessionSummaries(userID: nil, at: now.addingTimeInterval(3600)).isEmpty)
            // Nothing was queued: the session goes on.
            #expect(try await store.claimBackchannelLogouts(at: now, limit: 10, lease: 6).isEmpty)
        }
    }

    @Test("ending a session queues one back-channel logout per client that got an ID token in it and listens", arguments: Backend.allCases)
    func endingQueues(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let world = try await seed(store)
            let session = try await session(store, user: world.user, sid: "sid-a")
            _ = try await self.session(store, user: world.user, sid: "sid-b")
            let present = try await grant(store, client: world.client, user: world.user, sid: "sid-a")
            // One logout per client and session; offline_access outlives the session (OpenID Connect Core §11).
            let offline = try await grant(store, client: world.client, user: world.user, sid: "sid-a", scope: ["openid", "offline_access"])
            try await grant(store, client: world.quiet, user: world.user, sid: "sid-a")  // registered no URI
            let other = try await grant(store, client: world.client, user: world.user, sid: nil)  // not an OpenID grant
            let elsewhere = try await grant(store, client: world.client, user: world.user, sid: "sid-b")
            #expect(try await store.endSessions(.digest(session.digest), at: now) == 1)
            #expect(try await store.activeGrantEnd(id: present.id, at: now) == nil)
            for survivor in [offline, other, elsewhere] { #expect(try await store.activeGrantEnd(id: survivor.id, at: now) != nil) }
            let claimed = try await store.claimBackchannelLogouts(at: now, limit: 10, lease: 6)
            #expect(claimed == [PendingBackchannelLogout(clientID: world.client.id, subject: world.user.id, sid: "sid-a", attempt: 1)])
            // Leased: not due again until the lease and the backoff have passed.
            #expect(try await store.claimBackchannelLogouts(at: now.addingTimeInterval(6), limit: 10, lease: 6).isEmpty)
            #expect(try await store.claimBackchannelLogouts(at: now.addingTimeInterval(7), limit: 10, lease: 6).map(\.attempt) == [2])
            try await store.finishBackchannelLogout(clientID: world.client.id, sid: "sid-a")
            #expect(try await store.claimBackchannelLogouts(at: now.addingTimeInterval(999), limit: 10, lease: 6).isEmpty)
            #expect(try await store.sessionSummaries(userID: nil, at: now).map(\.sid) == ["sid-b"])
        }
    }

    @Test("a changed password or a deleted user ends every session of the user and queues their logouts", arguments: Backend.allCases)
    func userChanges(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let world = try await seed(store)
            for sid in ["sid-a", "sid-b"] {
                _ = try await session(store, user: world.user, sid: sid)
                try await grant(store, client: world.client, user: world.user, sid: sid)
            }
            #expect(try await store.updatePasswordHash(username: "alice", hash: "y", at: now))
            #expect(try await store.sessionSummaries(userID: nil, at: now).isEmpty)
            #expect(Set(try await store.claimBackchannelLogouts(at: now, limit: 10, lease: 6).map(\.sid)) == ["sid-a", "sid-b"])
            _ = try await session(store, user: world.user, sid: "sid-c")
            try await grant(store, client: world.client, user: world.user, sid: "sid-c")
            #expect(try await store.delete(username: "alice"))
            let queued = try await store.claimBackchannelLogouts(at: now, limit: 10, lease: 6)
            #expect(queued.map(\.sid) == ["sid-c"] && queued.first?.subject == world.user.id)
        }
    }

    @Test("an entry out of attempts is claimed no more and purged", arguments: Backend.allCases)
    func exhausted(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let world = try await seed(store)
            let session = try await session(store, user: world.user, sid: "sid-a")
            try await grant(store, client: world.client, user: world.user, sid: "sid-a")
            try await store.endSessions(.sid(session.sid), at: now)
            var at = now
            for attempt in 1...PendingBackchannelLogout.maximumAttempts {
                #expect(try await store.claimBackchannelLogouts(at: at, limit: 10, lease: 6).map(\.attempt) == [attempt])
                at = at.addingTimeInterval(100)
            }
            #expect(try await store.claimBackchannelLogouts(at: at, limit: 10, lease: 6).isEmpty)
            #expect(try await rows("backchannel_logouts", in: store).count == 1)
            _ = try await store.purgeExpired(before: at, limit: 10)
            #expect(try await rows("backchannel_logouts", in: store).isEmpty)
        }
    }
}
