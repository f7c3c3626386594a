import Crypto
import Foundation

/// The operator's key that encrypts signing private keys at rest (AES-256-GCM),
/// so that the database alone does not reveal them.
public struct KeyEncryptionKey: Sendable {
    let key: SymmetricKey

    /// Why a key-encryption key could not be used.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the base64 encoding of 32 random bytes (`openssl rand -base64 32`).
    public init(base64 text: String) throws(Invalid) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Data(base64Encoded: trimmed), bytes.count == 32 else {
            throw Invalid(description: "must be 32 bytes, base64-encoded (openssl rand -base64 32)")
        }
        self.key = SymmetricKey(data: bytes)
    }

    /// A new random key and its base64 text.
    public static func generate() -> (key: KeyEncryptionKey, base64: String) {
        let key = SymmetricKey(size: .bits256)
        let text = key.withUnsafeBytes { Data($0).base64EncodedString() }
        // The text round-trips by construction.
        return (KeyEncryptionKey(key: key), text)
    }

    private init(key: SymmetricKey) { self.key = key }

    /// A key for another purpose (HKDF-SHA-256 with `purpose` as its info): every
    /// instance given this key-encryption key derives the same one.
    public func derivedKey(for purpose: String) -> [UInt8] {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data(purpose.utf8), outputByteCount: 32).withUnsafeBytes { Array($0) }
    }

    /// Encrypts `plaintext`, bound to `kid` so that a ciphertext cannot be moved to another key's row.
    func seal(_ plaintext: Data, kid: String) throws -> Data {
        guard let combined = try AES.GCM.seal(plaintext, using: key, authenticating: Data(kid.utf8)).combined else {
            throw Invalid(description: "AES-GCM produced no output")
        }
        return combined
    }

    /// Decrypts what `seal` produced for the same `kid`; fails with another key-encryption key.
    func open(_ ciphertext: Data, kid: String) throws -> Data {
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: ciphertext), using: key, authenticating: Data(kid.utf8))
        } catch {
            throw Invalid(description: "cannot decrypt signing key \(kid): wrong key-encryption key?")
        }
    }
}
