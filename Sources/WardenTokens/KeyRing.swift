import Foundation
import JWTKit
import Synchronization
import WardenCore

/// The running server's view of its signing keys: which key of each algorithm signs,
/// which verify, and the JWKS document. `load(_:now:)` refreshes it from the stored
/// records. Access tokens sign with `accessTokenAlgorithm`'s key; ID and logout tokens
/// with the key of the algorithm each client registered.
public final class KeyRing: AccessTokenSigner, AccessTokenVerifier, OpenIDTokenSigner, Sendable {
    struct LoadedKey: Sendable {
        let algorithm: SigningAlgorithm
        /// jwt-kit verifies.
        let collection: JWTKeyCollection
        /// Signs, without jwt-kit on the hot path.
        let encoder: CompactJWSEncoder
    }

    struct State: Sendable {
        var keys: [String: LoadedKey] = [:]
        var signerKIDs: [SigningAlgorithm: String] = [:]
        var jwks = Data(#"{"keys":[]}"#.utf8)
    }

    private let state = Mutex(State())
    private let issuer: String
    private let encryptionKey: KeyEncryptionKey?
    /// The algorithm access tokens are signed with.
    public let accessTokenAlgorithm: SigningAlgorithm

    /// A key ring for tokens of `issuer`. Without an encryption key it can verify but not sign.
    public init(issuer: String, encryptionKey: KeyEncryptionKey?, accessTokenAlgorithm: SigningAlgorithm = .es256) {
        self.issuer = issuer
        self.encryptionKey = encryptionKey
        self.accessTokenAlgorithm = accessTokenAlgorithm
    }

    /// Takes in the published keys of `records` and each algorithm's signer `now`;
    /// decrypts only keys it has not seen.
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
                    encoder: CompactJWSEncoder(key: material, kid: record.kid))
            }
        }
        let document = try JSONEncoder().encode(JWKSet(keys: jwks))
        var signerKIDs: [SigningAlgorithm: String] = [:]
        for algorithm in schedule.algorithms { signerKIDs[algorithm] = schedule.signer(for: algorithm)?.kid }
        state.withLock { state in
            state.keys = keys
            state.signerKIDs = signerKIDs
            state.jwks = document
        }
    }

    /// The JWKS document (RFC 7517): public keys only.
    public var jwksDocument: Data { state.withLock { $0.jwks } }

    /// The `kid` new access tokens are signed with.
    public var signerKID: String? { signerKID(for: accessTokenAlgorithm) }

    /// The `kid` new tokens of `algorithm` are signed with.
    public func signerKID(for algorithm: SigningAlgorithm) -> String? { state.withLock { $0.signerKIDs[algorithm] } }

    /// Why a token could not be signed.
    public struct NoSigningKey: Error, CustomStringConvertible {
        let algorithm: SigningAlgorithm
        public var description: String { "no active \(algorithm.rawValue) signing key is loaded" }
    }

    private func signer(_ algorithm: SigningAlgorithm) throws -> CompactJWSEncoder {
        guard let key = state.withLock({ state in state.signerKIDs[algorithm].flatMap { state.keys[$0] } }) else {
            throw NoSigningKey(algorithm: algorithm)
        }
        return key.encoder
    }

    public func sign(_ claims: AccessTokenClaims) async throws -> String {
        try signing("sign access token", algorithm: accessTokenAlgorithm) { try $0.encode(JWTPayloads.accessToken(claims), as: .accessToken) }
    }

    public func signIDToken(_ claims: IDTokenClaims, algorithm: SigningAlgorithm) async throws -> String {
        try signing("sign ID token", algorithm: algorithm) { try $0.encode(JWTPayloads.idToken(claims), as: .idToken) }
    }

    public func signLogoutToken(_ claims: LogoutTokenClaims, algorithm: SigningAlgorithm) async throws -> String {
        try signing("sign logout token", algorithm: algorithm) { try $0.encode(JWTPayloads.logoutToken(claims), as: .logoutToken) }
    }

    /// One span per signature: its kind and algorithm, never the claims.
    private func signing(_ name: String, algorithm: SigningAlgorithm, _ encode: (CompactJWSEncoder) throws -> String) throws -> String {
        try withChildSpan(name, attribute: ("warden.signing.algorithm", algorithm.rawValue)) { try encode(try signer(algorithm)) }
    }

    public func verify(_ token: String) async -> AccessTokenClaims? {
        guard let key = verifiableKey(for: token, types: ["at+jwt", "application/at+jwt"]),
            let payload = try? await key.collection.verify(token, as: AccessTokenPayload.self), payload.iss.value == issuer
        else { return nil }
        return payload.claims
    }

    public func verifyIDTokenHint(_ token: String) async -> IDTokenHint? {
        guard let key = verifiableKey(for: token, types: ["jwt"]),
            let payload = try? await key.collection.verify(token, as: IDTokenHintPayload.self), payload.iss.value == issuer
        else { return nil }
        return IDTokenHint(subject: payload.sub.value, audience: payload.aud.value, sessionID: payload.sid)
    }

    /// The loaded key that must have signed `token`: its `typ` is one of `types`
    /// (lowercased), its `kid` is loaded with the `alg` the header names, and its
    /// signature is spelled canonically (low-S for ES256).
    private func verifiableKey(for token: String, types: Set<String>) -> LoadedKey? {
        guard let signature = Self.canonicalSignature(of: token), let header = Self.header(of: token),
            let type = header.typ?.lowercased(), types.contains(type),
            let kid = header.kid,
            let key = state.withLock({ $0.keys[kid] }),
            header.alg == key.algorithm.rawValue,
            key.algorithm != .es256 || LowS.isLow(signature)
        else { return nil }
        return key
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
        guard let bytes = Base64URL.decodeCanonical(signature) else { return nil }
        return Array(bytes)
    }

    /// The JOSE header, read before any key is chosen so that `kid`, `alg` and `typ` can be checked.
    static func header(of token: String) -> Header? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Base64URL.decode(parts[0]) else { return nil }
        return try? JSONDecoder().decode(Header.self, from: data)
    }
}

/// What an `id_token_hint` must carry, as jwt-kit checks it: its expiry does not matter.
struct IDTokenHintPayload: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var sid: String?

    func verify(using _: some JWTAlgorithm) throws {}
}
