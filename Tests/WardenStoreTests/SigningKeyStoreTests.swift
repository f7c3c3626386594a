import Foundation
import Synchronization
import Testing
import WardenCore
import WardenServer
import WardenTokens

/// A clock tests move by hand.
final class ManualClock: WardenClock {
    let date: Mutex<Date>
    init(_ date: Date) { self.date = Mutex(date) }
    func now() -> Date { date.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { date.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite("Signing keys in storage")
struct SigningKeyStoreTests {
    let kek = KeyEncryptionKey.generate().key

    @Test("a staged rotation: published at once, signing after the lead time, the old key retiring once its tokens expired", arguments: Backend.allCases)
    func stagedRotation(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
            let manager = SigningKeyManager(repository: store, encryptionKey: kek, clock: clock)
            try await manager.ensureSigningKey(algorithm: .es256)
            let first = try #require(try await store.allSigningKeys().first)
            try await manager.ensureSigningKey(algorithm: .es256)
            #expect(try await store.allSigningKeys().count == 1)

            clock.advance(10)
            let second = try await manager.rotate(algorithm: .es256, leadTime: 600)
            // Another algorithm's key is another ring: it supersedes nothing here.
            let other = try await manager.rotate(algorithm: .edDSA, leadTime: 0)
            var schedule = SigningKeySchedule(keys: try await store.allSigningKeys(), now: clock.now())
            #expect(schedule.signer(for: .es256)?.kid == first.kid)
            #expect(schedule.signer(for: .edDSA)?.kid == other.kid)
            #expect(schedule.state(of: second) == .pending)

            clock.advance(600)
            schedule = SigningKeySchedule(keys: try await store.allSigningKeys(), now: clock.now())
            #expect(schedule.signer(for: .es256)?.kid == second.kid)
            #expect(try await manager.maintain(tokenLifetime: 3600, rotationInterval: nil, algorithms: [.es256], leadTime: 600).retired.isEmpty)

            clock.advance(3600 + 61)
            #expect(try await manager.maintain(tokenLifetime: 3600, rotationInterval: nil, algorithms: [.es256], leadTime: 600).retired == [first.kid])
            schedule = SigningKeySchedule(keys: try await store.allSigningKeys(), now: clock.now())
            #expect(schedule.published.map(\.kid) == [second.kid, other.kid])
        }
    }

    @Test("the signing key cannot be retired; another can, once", arguments: Backend.allCases)
    func retire(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let manager = SigningKeyManager(repository: store, encryptionKey: kek)
            try await manager.ensureSigningKey(algorithm: .es256)
            let signer = try #require(try await store.allSigningKeys().first)
            await #expect(throws: SigningKeyManager.Refusal.self) { try await manager.retire(kid: signer.kid) }
            let pending = try await manager.rotate(algorithm: .es256, leadTime: 600)
            try await manager.retire(kid: pending.kid)
            await #expect(throws: SigningKeyManager.Refusal.self) { try await manager.retire(kid: pending.kid) }
            await #expect(throws: SigningKeyManager.Refusal.self) { try await manager.retire(kid: "unknown") }
        }
    }

    @Test("automatic rotation creates a key when the interval has passed", arguments: Backend.allCases)
    func automaticRotation(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
            let manager = SigningKeyManager(repository: store, encryptionKey: kek, clock: clock)
            try await manager.ensureSigningKey(algorithm: .es256)
            #expect(try await manager.maintain(tokenLifetime: 60, rotationInterval: 86_400, algorithms: [.es256], leadTime: 600).rotated.isEmpty)
            #expect(try await store.allSigningKeys().count == 1)
            clock.advance(86_400)
            let made = try await manager.maintain(tokenLifetime: 60, rotationInterval: 86_400, algorithms: [.es256], leadTime: 600).rotated
            #expect(try await store.allSigningKeys().count == 2)
            #expect(made.map(\.kid) == [try await store.allSigningKeys().last?.kid])
        }
    }

    @Test("tokens signed before a rotation still verify; a retired key's tokens do not", arguments: Backend.allCases, SigningAlgorithm.allCases)
    func keyRing(_ backend: Backend, algorithm: SigningAlgorithm) async throws {
        try await withTemporaryStore(backend) { store in
            let manager = SigningKeyManager(repository: store, encryptionKey: kek)
            try await manager.ensureSigningKey(algorithm: algorithm)
            let ring = KeyRing(issuer: "https://issuer", encryptionKey: kek, accessTokenAlgorithm: algorithm)
            try await ring.load(try await store.allSigningKeys(), now: Date())
            let claims = AccessTokenClaims(
                issuer: "https://issuer", subject: "s", audience: ["https://api"], clientID: "c", scope: Scope(tokens: ["a"]),
                issuedAt: Date(), expiresAt: Date().addingTimeInterval(300), jwtID: "j1")
            let old = try await ring.sign(claims)
            let oldKID = try #require(ring.signerKID)
            #expect(await ring.verify(old)?.jwtID == "j1")

            try await manager.rotate(algorithm: algorithm, leadTime: 0)
            try await ring.load(try await store.allSigningKeys(), now: Date().addingTimeInterval(1))
            #expect(ring.signerKID != oldKID)
            #expect(await ring.verify(old)?.jwtID == "j1")
            let jwks = try JSONDecoder().decode(JWKSet.self, from: ring.jwksDocument)
            #expect(jwks.keys.count == 2)
            #expect(jwks.keys.allSatisfy { $0.alg == algorithm.rawValue })

            try await manager.retire(kid: oldKID)
            try await ring.load(try await store.allSigningKeys(), now: Date().addingTimeInterval(2))
            #expect(await ring.verify(old) == nil)
            #expect(try JSONDecoder().decode(JWKSet.self, from: ring.jwksDocument).keys.count == 1)
        }
    }

    @Test("rotating or retiring with another key-encryption key is refused and stores nothing", arguments: Backend.allCases)
    func wrongEncryptionKey(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let manager = SigningKeyManager(repository: store, encryptionKey: kek)
            try await manager.ensureSigningKey(algorithm: .es256)
            let pending = try await manager.rotate(algorithm: .es256, leadTime: 600)
            let stranger = SigningKeyManager(repository: store, encryptionKey: KeyEncryptionKey.generate().key)
            await #expect(throws: SigningKeyManager.Refusal.self) { try await stranger.rotate(algorithm: .es256, leadTime: 0) }
            await #expect(throws: SigningKeyManager.Refusal.self) { try await stranger.retire(kid: pending.kid) }
            let keys = try await store.allSigningKeys()
            #expect(keys.count == 2)
            #expect(keys.allSatisfy { $0.retiredAt == nil })
        }
    }

    @Test("private keys are encrypted: another key-encryption key cannot load them", arguments: Backend.allCases)
    func encryptedAtRest(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            try await SigningKeyManager(repository: store, encryptionKey: kek).ensureSigningKey(algorithm: .es256)
            let ring = KeyRing(issuer: "https://issuer", encryptionKey: KeyEncryptionKey.generate().key)
            await #expect(throws: KeyEncryptionKey.Invalid.self) { try await ring.load(try await store.allSigningKeys(), now: Date()) }
        }
    }
}

@Suite("Revocations in storage")
struct RevocationStoreTests {
    @Test("revoke is idempotent, and purge removes only expired entries in batches", arguments: Backend.allCases)
    func revocations(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            try await store.revoke(jwtID: "live", clientID: "c", expiresAt: now.addingTimeInterval(60))
            try await store.revoke(jwtID: "live", clientID: "c", expiresAt: now.addingTimeInterval(60))
            for i in 0..<5 { try await store.revoke(jwtID: "old\(i)", clientID: "c", expiresAt: now.addingTimeInterval(-60)) }
            #expect(try await store.isRevoked(jwtID: "live"))
            #expect(try await !store.isRevoked(jwtID: "never"))
            #expect(try await store.purgeRevocations(expiredBefore: now, limit: 3) == 3)
            #expect(try await store.purgeRevocations(expiredBefore: now, limit: 3) == 2)
            #expect(try await store.purgeRevocations(expiredBefore: now, limit: 3) == 0)
            #expect(try await store.isRevoked(jwtID: "live"))
        }
    }
}
