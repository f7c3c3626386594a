import Crypto
import Foundation

/// A client secret in plain text: shown to the operator once, then only its digest is kept.
public struct ClientSecret: Sendable, Equatable {
    /// The secret as the client will present it.
    public let value: String

    /// Wraps a presented secret.
    public init(_ value: String) { self.value = value }

    /// 256 random bits (SECURITY.md: at least 256).
    public static func generate() -> ClientSecret { ClientSecret(RandomToken.make(byteCount: 32)) }

    /// SHA-256 of the secret. A fast hash is right here: the secret is high-entropy,
    /// so there is nothing for a slow hash to protect, and it sits on every token request.
    public var digest: ClientSecretDigest { ClientSecretDigest(bytes: Array(SHA256.hash(data: Data(value.utf8)))) }
}

/// The stored form of a client secret.
public struct ClientSecretDigest: Sendable, Equatable {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    /// Wraps stored digest bytes.
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Whether `secret` hashes to this digest, compared in constant time.
    public func matches(_ secret: ClientSecret) -> Bool {
        ConstantTime.equals(secret.digest.bytes, bytes)
    }
}

/// Comparisons whose duration does not depend on where the inputs differ.
public enum ConstantTime {
    /// Equal length and equal bytes, looking at every byte.
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
