import Foundation

/// A signing key as stored: the public JWK in the clear, the private key encrypted.
public struct SigningKeyRecord: Sendable, Equatable {
    /// The `kid`, unique.
    public var kid: String
    public var algorithm: SigningAlgorithm
    /// The public JWK, as JSON.
    public var publicJWK: String
    /// The private key, encrypted with the operator's key-encryption key.
    public var encryptedPrivateKey: Data
    public var createdAt: Date
    /// From this moment the key may sign; until then it is only published.
    public var activatesAt: Date
    /// From this moment the key is no longer published and its tokens are inactive.
    public var retiredAt: Date?

    public init(
        kid: String, algorithm: SigningAlgorithm, publicJWK: String, encryptedPrivateKey: Data, createdAt: Date,
        activatesAt: Date, retiredAt: Date? = nil
    ) {
        self.kid = kid
        self.algorithm = algorithm
        self.publicJWK = publicJWK
        self.encryptedPrivateKey = encryptedPrivateKey
        self.createdAt = createdAt
        self.activatesAt = activatesAt
        self.retiredAt = retiredAt
    }
}

/// Where signing keys are kept.
public protocol SigningKeyRepository: Sendable {
    /// Every key, retired ones included, in the order stored (oldest first).
    func allSigningKeys() async throws -> [SigningKeyRecord]
    /// Stores a new key.
    func insert(_ key: SigningKeyRecord) async throws
    /// Marks a key retired at `date` unless it already is; false when nothing changed.
    func retireSigningKey(kid: String, at date: Date) async throws -> Bool
}
