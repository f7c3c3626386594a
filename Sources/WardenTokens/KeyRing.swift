import Foundation
import JWTKit
import Synchronization
import WardenCore

/// The running server's view of its signing keys: which key signs, which verify,
/// and the JWKS document. `load(_:now:)` refreshes it from the stored records.
public final class KeyRing: AccessTokenSigner, AccessTokenVerifier, Sendable {
    struct LoadedKey: Sendable {
        let algorithm: SigningAlgorithm
        /// jwt-kit verifies.
        let collection: JWTKeyCollection
        /// Signs, without jwt-kit on the hot path.
        let encoder: AccessTokenEncoder
    }

    struct State: Sendable {
        var keys: [String: LoadedKey] = [:]
        var signerKID: String?
        var jwks = Data(#"{"keys":[]}"#.utf8)
    }

    private let state = Mutex(State())
    private let issuer: String
    private let encryptionKey: KeyEncryptionKey?

    /// A key ring for tokens of `issuer`. Without an encryption key it can verify but not sign.
    public init(issuer: String, encryptionKey: KeyEncryptionKey?) {
        self.issuer = issuer
        self.encryptionKey = encryptionKey
    }

    /// Takes in the published keys of `records` and the signer `now`; decrypts only keys it has not seen.
    public func load(_ records: [SigningKeyRecord], now: Date) async throws {
        let schedule = SigningKeySchedule(keys: records, now: now)
        let known = state.withLock { $0.keys }
        var keys: [String: LoadedKey] = [:]
        var jwks: [PublicJWK] = []
        for record in schedule.published {
            jwks.append(try JSONDecoder().decode(PublicJWK.self, from: Data(record.publicJWK.utf8)))
            if let loaded = known[record.kid] {
                keys[record.kid] = loaded
            } else if let encryptionKey {
                let material = try SigningKeyMaterial(
                    serialized: try encryptionKey.open(record.encryptedPrivateKey, kid: record.kid), algorithm: record.algorithm)
                keys[record.kid] = LoadedKey(
                    algorithm: record.algorithm, collection: try await material.keyCollection(kid: record.kid),
                    encoder: AccessTokenEncoder(key: material, kid: record.kid))
            }
        }
        let document = try JSONEncoder().encode(JWKSet(keys: jwks))
        let signerKID = schedule.signer?.kid
        state.withLock { state in
            state.keys = keys
            state.signerKID = signerKID
            state.jwks = document
        }
    }

    /// The JWKS document (RFC 7517): public keys only.
    public var jwksDocument: Data { state.withLock { $0.jwks } }

    /// The `kid` new tokens are signed with.
    public var signerKID: String? { state.withLock { $0.signerKID } }

    /// Why a token could not be signed.
    public struct NoSigningKey: Error, CustomStringConvertible {
        public var description: String { "no active signing key is loaded" }
    }

    public func sign(_ claims: AccessTokenClaims) async throws -> String {
        guard let key = state.withLock({ state in state.signerKID.flatMap { state.keys[$0] } }) else { throw NoSigningKey() }
        return try key.encoder.encode(claims)
    }

    public func verify(_ token: String) async -> AccessTokenClaims? {
        guard let signature = Self.canonicalSignature(of: token), let header = Self.header(of: token),
            header.typ?.lowercased() == "at+jwt" || header.typ?.lowercased() == "application/at+jwt",
            let kid = header.kid,
            let key = state.withLock({ $0.keys[kid] }),
            header.alg == key.algorithm.rawValue,
            key.algorithm != .es256 || LowS.isLow(signature),
            let payload = try? await key.collection.verify(token, as: AccessTokenPayload.self),
            payload.iss.value == issuer
        else { return nil }
        return payload.claims
    }

    /// Whether the key named by the token's `kid` is loaded.
    public func hasKey(for token: String) -> Bool {
        guard let kid = Self.header(of: token)?.kid else { return false }
        return state.withLock { $0.keys[kid] != nil }
    }

    struct Header: Decodable {
        var alg: String?
        var kid: String?
        var typ: String?
    }

    /// Whether the signature is spelled as RFC 7515 §2 requires: base64url without padding,
    /// the unused bits of its last character zero. jwt-kit also accepts `=` padding and
    /// stray bits, so one signature would have several spellings, each a different token
    /// string that verifies (found by the FuzzAccessToken target).
    /// The signature's bytes when it is so spelled; else nil.
    static func canonicalSignature(of token: String) -> [UInt8]? {
        guard let dot = token.lastIndex(of: ".") else { return nil }
        let signature = token[token.index(after: dot)...]
        guard let bytes = Base64URL.decode(signature), Base64URL.encode(bytes) == signature else { return nil }
        return Array(bytes)
    }

    /// The JOSE header, read before any key is chosen so that `kid`, `alg` and `typ` can be checked.
    static func header(of token: String) -> Header? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Base64URL.decode(parts[0]) else { return nil }
        return try? JSONDecoder().decode(Header.self, from: data)
    }
}
