import Foundation
import Testing
import WardenCore
import WardenServer

@Suite("Device authorizations (RFC 8628) in SQL storage")
struct DeviceAuthorizationStoreTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// A public device client, a user, and a pending request of the client's.
    func seed(_ store: any WardenStorage, userCode: String = UserCode.generate()) async throws
        -> (client: Client, user: User, record: DeviceAuthorizationRecord, deviceCode: OpaqueToken)
    {
        let (client, _) = try ClientRegistration(
            name: "tv", grantTypes: [.deviceCode, .refreshToken], scope: "openid profile", authMethod: ClientAuthMethod.none
        ).makeClient(now: now)
        try await store.insert(client)
        let user = User(id: RandomToken.identifier(byteCount: 16), username: "alice-\(UUID().uuidString)", passwordHash: "x", createdAt: now)
        try await store.insert(user)
        let deviceCode = OpaqueToken.generate()
        let record = DeviceAuthorizationRecord(
            deviceCodeDigest: deviceCode.digest, userCode: userCode, clientID: client.id, scope: Scope(tokens: ["openid", "profile"]),
            audience: ["https://api.example"], createdAt: now, expiresAt: now.addingTimeInterval(600), interval: 5)
        #expect(try await store.insertDeviceAuthorization(record))
        return (client, user, record, deviceCode)
    }

    func grant(for record: DeviceAuthorizationRecord, user: User) -> GrantRecord {
        GrantRecord(
            id: RandomToken.timeOrderedIdentifier(at: now), clientID: record.clientID, userID: user.id, scope: record.scope,
            audience: record.audience, createdAt: now, expiresAt: record.expiresAt, sessionID: "sid-1", authTime: now)
    }

    /// One poll at `at`, as the device code grant makes it.
    func poll(_ store: any WardenStorage, _ code: OpaqueToken, clientID: String, at: Date, refresh: OpaqueToken? = nil) async throws
        -> DeviceCodeGrant.Poll
    {
        let (end, idle, digest) = (at.addingTimeInterval(86_400), at.addingTimeInterval(3600), refresh?.digest)
        return try await store.withLockedDeviceCode(digest: code.digest, at: at) { record in
            DeviceCodeGrant.poll(record, clientID: clientID, at: at, grantExpiresAt: end, refreshToken: digest, idleExpiresAt: idle)
        }
    }

    @Test("a stored request reads back whole; a taken user code is refused and stores nothing", arguments: Backend.allCases)
    func insertAndRead(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, _, record, _) = try await seed(store, userCode: "BCDFGHJK")
            #expect(try await store.pendingDeviceAuthorization(userCode: "BCDFGHJK", at: now) == record)
            var clash = record
            clash.deviceCodeDigest = OpaqueToken.generate().digest
            #expect(try await !store.insertDeviceAuthorization(clash))
            #expect(try await store.pendingDeviceAuthorization(userCode: "BCDFGHJK", at: now.addingTimeInterval(600)) == nil)
            #expect(try await store.delete(clientID: client.id))
            #expect(try await store.pendingDeviceAuthorization(userCode: "BCDFGHJK", at: now) == nil)
        }
    }

    @Test("polls record their time; too fast slows the code down by five seconds for good", arguments: Backend.allCases)
    func pacing(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, _, _, code) = try await seed(store)
            #expect(try await poll(store, code, clientID: client.id, at: now) == .pending)
            #expect(try await poll(store, code, clientID: client.id, at: now.addingTimeInterval(4)) == .slowDown)
            // Now 10 s apart: 9 s after the slowed poll is still too fast, 10 s is not.
            #expect(try await poll(store, code, clientID: client.id, at: now.addingTimeInterval(13)) == .slowDown)
            #expect(try await poll(store, code, clientID: client.id, at: now.addingTimeInterval(28)) == .pending)
            #expect(try await poll(store, code, clientID: "someone-else", at: now.addingTimeInterval(60)) == .unknown)
        }
    }

    @Test("a decision is made once: approval stores the grant that exactly one of concurrent polls redeems", arguments: Backend.allCases)
    func approveOnce(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, user, record, code) = try await seed(store)
            let approved = grant(for: record, user: user)
            #expect(try await store.decideDeviceAuthorization(userCode: record.userCode, grant: approved, at: now))
            #expect(try await !store.decideDeviceAuthorization(userCode: record.userCode, grant: nil, at: now))
            #expect(try await store.pendingDeviceAuthorization(userCode: record.userCode, at: now) == nil)
            let at = now.addingTimeInterval(30)
            let results = try await withThrowingTaskGroup(of: DeviceCodeGrant.Poll.self) { group in
                for _ in 0..<12 { group.addTask { try await poll(store, code, clientID: client.id, at: at, refresh: .generate()) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { if case .approved = $0 { true } else { false } }.count == 1)
            #expect(results.filter { $0 == .redeemed }.count == 11)
            // The grant is an ordinary one: its end moved to the refresh chain's, and it is live.
            #expect(try await store.activeGrantEnd(id: approved.id, at: at) == at.addingTimeInterval(86_400))
        }
    }

    @Test("denied, expired and revoked requests each end their own way", arguments: Backend.allCases)
    func endings(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, user, record, code) = try await seed(store)
            #expect(try await store.decideDeviceAuthorization(userCode: record.userCode, grant: nil, at: now))
            #expect(try await poll(store, code, clientID: client.id, at: now.addingTimeInterval(10)) == .denied)
            #expect(try await poll(store, code, clientID: client.id, at: now.addingTimeInterval(600)) == .expired)

            let second = OpaqueToken.generate()
            var other = record
            (other.deviceCodeDigest, other.userCode) = (second.digest, UserCode.generate())
            #expect(try await store.insertDeviceAuthorization(other))
            // Expired before anyone decided: no decision is taken.
            #expect(try await !store.decideDeviceAuthorization(userCode: other.userCode, grant: grant(for: other, user: user), at: other.expiresAt))

            let third = OpaqueToken.generate()
            (other.deviceCodeDigest, other.userCode) = (third.digest, UserCode.generate())
            #expect(try await store.insertDeviceAuthorization(other))
            let approved = grant(for: other, user: user)
            #expect(try await store.decideDeviceAuthorization(userCode: other.userCode, grant: approved, at: now))
            try await store.revokeGrant(id: approved.id, at: now)
            #expect(try await poll(store, third, clientID: client.id, at: now.addingTimeInterval(10)) == .unknown)
        }
    }

    @Test("the purge keeps expired requests, approved ones too, for an hour, then removes them", arguments: Backend.allCases)
    func purge(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, user, record, code) = try await seed(store)
            // Approved as the pages do it, and never polled for.
            let approvedCode = OpaqueToken.generate()
            var approved = record
            (approved.deviceCodeDigest, approved.userCode) = (approvedCode.digest, UserCode.generate())
            #expect(try await store.insertDeviceAuthorization(approved))
            let verification = DeviceVerification(store: store, clients: store, perAddress: FailureRateLimiter(limit: 10), clock: FixedNow(now))
            #expect(try await verification.approve(approved, userID: user.id, session: nil))
            _ = try await store.purgeExpired(before: record.expiresAt.addingTimeInterval(3599), limit: 100)
            #expect(try await poll(store, approvedCode, clientID: client.id, at: record.expiresAt.addingTimeInterval(3599)) == .expired)
            _ = try await store.purgeExpired(before: record.expiresAt.addingTimeInterval(3599), limit: 100)
            #expect(try await poll(store, code, clientID: client.id, at: record.expiresAt.addingTimeInterval(3599)) == .expired)
            _ = try await store.purgeExpired(before: record.expiresAt.addingTimeInterval(3601), limit: 100)
            #expect(try await poll(store, code, clientID: client.id, at: record.expiresAt.addingTimeInterval(3601)) == .unknown)
        }
    }
}

/// A clock stopped at one time.
struct FixedNow: WardenClock {
    let date: Date
    init(_ date: Date) { self.date = date }
    func now() -> Date { date }
}
