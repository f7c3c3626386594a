import Crypto
import Foundation

/// A bearer secret the server hands out and later recognises: an authorization
/// code, a refresh token or a session id. 256 random bits; only the SHA-256 digest
/// is stored, so a copy of the database yields nothing usable.
public struct OpaqueToken: Sendable, Equatable {
    /// The value given to the client or browser.
    public let value: String

    /// Wraps a presented value.
    public init(_ value: String) { self.value = value }

    /// A fresh token.
    public static func generate() -> OpaqueToken { OpaqueToken(RandomToken.make(byteCount: 32)) }

    /// What storage keeps and looks up by.
    public var digest: [UInt8] { Array(SHA256.hash(data: Data(value.utf8))) }
}
