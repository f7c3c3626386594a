import Foundation
import WardenCore

/// Creates, rotates and retires signing keys in a repository.
public struct SigningKeyManager: Sendable {
    let repository: any SigningKeyRepository
    let encryptionKey: KeyEncryptionKey
    let clock: any WardenClock

    public init(repository: any SigningKeyRepository, encryptionKey: KeyEncryptionKey, clock: any WardenClock = SystemClock()) {
        self.repository = repository
        self.encryptionKey = encryptionKey
        self.clock = clock
    }

    /// An operator's mistake in a key command.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Publishes a new key now; it signs after `leadTime` seconds (0: at once).
    @discardableResult
    public func rotate(algorithm: SigningAlgorithm, leadTime: TimeInterval) async throws -> SigningKeyRecord {
        try await checkEncryptionKey()
        let now = clock.now()
        let material = try SigningKeyMaterial.generate(algorithm)
        let kid = RandomToken.identifier(byteCount: 12)
        let jwk = String(decoding: try JSONEncoder().encode(material.publicJWK(kid: kid)), as: UTF8.self)
        let record = SigningKeyRecord(
            kid: kid, algorithm: algorithm, publicJWK: jwk,
            encryptedPrivateKey: try encryptionKey.seal(material.serialized, kid: kid),
            createdAt: now, activatesAt: now.addingTimeInterval(max(0, leadTime)))
        try await repository.insert(record)
        return record
    }

    /// Makes sure some key can sign now, creating one that signs at once if none can.
    public func ensureSigningKey(algorithm: SigningAlgorithm) async throws {
        let schedule = SigningKeySchedule(keys: try await repository.allSigningKeys(), now: clock.now())
        if schedule.signer(for: algorithm) == nil { try await rotate(algorithm: algorithm, leadTime: 0) }
    }

    /// Unpublishes a key at once; its tokens become inactive. The signing key cannot be retired.
    public func retire(kid: String) async throws {
        try await checkEncryptionKey()
        let schedule = SigningKeySchedule(keys: try await repository.allSigningKeys(), now: clock.now())
        guard let key = schedule.keys.first(where: { $0.kid == kid }) else {
            throw Refusal(description: "no signing key with kid \(kid)")
        }
        switch schedule.state(of: key) {
        case .signing:
            throw Refusal(description: "key \(kid) is the \(key.algorithm.rawValue) key currently signing; rotate --algorithm \(key.algorithm.rawValue) --now first")
        case .retired: throw Refusal(description: "key \(kid) is already retired")
        case .pending, .verifying: _ = try await repository.retireSigningKey(kid: kid, at: schedule.now)
        }
    }

    /// Refuses a key-encryption key that cannot open the keys already stored: a key
    /// sealed with another one would be unreadable by every server.
    public func checkEncryptionKey() async throws {
        guard let key = try await repository.allSigningKeys().last else { return }
        do {
            _ = try encryptionKey.open(key.encryptedPrivateKey, kid: key.kid)
        } catch {
            throw Refusal(description: "the key-encryption key given cannot decrypt the stored signing keys; it is not the one they were encrypted with")
        }
    }

    /// Retires superseded keys whose tokens have all expired, and rotates each ring
    /// (`algorithms` and any other with a published key) when `rotationInterval` says a
    /// rotation is due. Returns the kids retired and the keys made.
    @discardableResult
    public func maintain(
        tokenLifetime: TimeInterval, rotationInterval: TimeInterval?, algorithms: [SigningAlgorithm], leadTime: TimeInterval
    ) async throws -> (retired: [String], rotated: [SigningKeyRecord]) {
        let schedule = SigningKeySchedule(keys: try await repository.allSigningKeys(), now: clock.now())
        var retired: [String] = []
        for key in schedule.keysDueForRetirement(tokenLifetime: tokenLifetime)
        where try await repository.retireSigningKey(kid: key.kid, at: schedule.now) {
            retired.append(key.kid)
        }
        guard let rotationInterval else { return (retired, []) }
        var rotated: [SigningKeyRecord] = []
        for algorithm in SigningAlgorithm.allCases
        where (algorithms.contains(algorithm) || schedule.algorithms.contains(algorithm))
            && schedule.isRotationDue(interval: rotationInterval, algorithm: algorithm)
        {
            rotated.append(try await rotate(algorithm: algorithm, leadTime: leadTime))
        }
        return (retired, rotated)
    }
}
