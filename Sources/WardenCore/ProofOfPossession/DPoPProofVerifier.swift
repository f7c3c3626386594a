import Crypto
import Foundation

/// A DPoP proof that passed every check but single use (RFC 9449 §4.3).
public struct DPoPProof: Sendable, Equatable {
    /// RFC 7638 thumbprint of the proof's key: what tokens are bound to (`cnf.jkt`).
    public let thumbprint: String
    let jti: String
    let expiresAt: Date
}

/// Checks DPoP proofs (RFC 9449 §4.3), in two steps so that a request whose client
/// then fails to authenticate does not spend its proof: `check` (everything that needs
/// no storage) and `spend` (the `jti`, single use across instances).
public struct DPoPProofVerifier: Sendable {
    /// What the server is configured with.
    public struct Configuration: Sendable {
        /// A proof's `iat` must be this close to now, in seconds.
        public var proofLifetime: TimeInterval
        /// Whether proofs at the authorization server must carry its nonce (§8).
        public var requireNonce: Bool

        public init(proofLifetime: TimeInterval = 60, requireNonce: Bool = false) {
            self.proofLifetime = proofLifetime
            self.requireNonce = requireNonce
        }
    }

    /// The header a proof travels in.
    public static let headerName = "DPoP"
    /// Longer `jti`s are not stored.
    static let maximumJTILength = 255

    public let configuration: Configuration
    let issuer: String
    let nonces: DPoPNonces
    let usedJTIs: any ProofOfPossessionRepository
    let clock: any WardenClock

    public init(
        configuration: Configuration, issuer: String, nonces: DPoPNonces, usedJTIs: any ProofOfPossessionRepository,
        clock: any WardenClock
    ) {
        self.configuration = configuration
        self.issuer = issuer
        self.nonces = nonces
        self.usedJTIs = usedJTIs
        self.clock = clock
    }

    /// The nonce to send in `DPoP-Nonce` now, when nonces are required.
    public func currentNonce() -> String? { configuration.requireNonce ? nonces.nonce(at: clock.now()) : nil }

    /// The proof in `headers` (the request's `DPoP` header values) for a request with
    /// `method` to the endpoint at `path`, checked but not spent; nil when there is none.
    /// `accessToken`: the token presented with it (§7), whose hash `ath` must be.
    /// `nonce`: whether the server's nonce is required here.
    public func check(
        _ headers: [String], method: String, path: String, accessToken: String? = nil, nonce: Bool = false
    ) throws(OAuthError) -> DPoPProof? {
        guard let text = headers.first else { return nil }
        guard headers.count == 1 else { throw .invalidDPoPProof(cause: "more than one DPoP header") }
        let jws: CompactJWS
        do { jws = try CompactJWS(text) } catch { throw .invalidDPoPProof(cause: "\(error)") }
        guard jws.header["typ"] as? String == "dpop+jwt" else { throw .invalidDPoPProof(cause: "typ is not dpop+jwt") }
        guard jws.algorithm != nil else { throw .invalidDPoPProof(cause: "alg not accepted") }
        guard let member = jws.header["jwk"] as? [String: Any] else { throw .invalidDPoPProof(cause: "no jwk") }
        let key: ClientJWK
        do { key = try ClientJWK(json: member) } catch { throw .invalidDPoPProof(cause: "jwk: \(error)") }
        guard jws.isSigned(by: key) else { throw .invalidDPoPProof(cause: "signature") }
        guard jws.string("htm") == method else { throw .invalidDPoPProof(cause: "htm is not \(method)") }
        guard let htu = jws.string("htu"), let presented = Self.normalized(htu), presented == Self.normalized(EndpointURL.of(path, issuer: issuer)) else {
            throw .invalidDPoPProof(cause: "htu is not this endpoint")
        }
        let now = clock.now()
        guard let issuedAt = jws.date("iat"), abs(issuedAt.timeIntervalSince(now)) <= configuration.proofLifetime else {
            throw .invalidDPoPProof(cause: "iat missing or not within \(Int(configuration.proofLifetime)) s of now")
        }
        guard let jti = jws.string("jti"), !jti.isEmpty, jti.utf8.count <= Self.maximumJTILength else {
            throw .invalidDPoPProof(cause: "no usable jti")
        }
        if let accessToken {
            let hash = Base64URL.encode(SHA256.hash(data: Data(accessToken.utf8)))
            guard jws.string("ath") == hash else { throw .invalidDPoPProof(cause: "ath is not the token's hash") }
        }
        if nonce, configuration.requireNonce {
            guard let presented = jws.string("nonce"), nonces.accepts(presented, at: now) else {
                var error = OAuthError(.useDPoPNonce, "Authorization server requires nonce in DPoP proof")
                error.dpopNonce = nonces.nonce(at: now)
                throw error
            }
        }
        return DPoPProof(thumbprint: key.thumbprint, jti: jti, expiresAt: max(issuedAt, now).addingTimeInterval(configuration.proofLifetime))
    }

    /// The proof in `headers` at the authorization server's endpoint at `path` (a POST,
    /// nonce required when configured), checked; nil when there is none; refused when
    /// there is one and no verifier.
    public static func checkAtServer(_ verifier: DPoPProofVerifier?, _ headers: [String], path: String) throws(OAuthError) -> DPoPProof? {
        guard !headers.isEmpty else { return nil }
        guard let verifier else { throw .invalidDPoPProof(cause: "DPoP is not set up") }
        return try verifier.check(headers, method: "POST", path: path, nonce: true)
    }

    /// Spends the proof's `jti`: a second use, here or on another instance, is refused.
    public func spend(_ proof: DPoPProof) async throws {
        let digest = UsedJTIKind.dpopProof.digest(issuer: proof.thumbprint, jti: proof.jti)
        guard try await usedJTIs.spendJTI(digest: digest, kind: .dpopProof, expiresAt: proof.expiresAt, now: clock.now()) else {
            throw OAuthError.invalidDPoPProof(cause: "jti replayed")
        }
    }

    /// RFC 9449 §4.3: `htu` compared without query and fragment, after RFC 3986 §6.2.2
    /// and §6.2.3 normalisation (case of scheme and host, default port, empty path).
    static func normalized(_ uri: String) -> String? {
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased(), !host.isEmpty, components.user == nil, components.password == nil
        else { return nil }
        let port = components.port.flatMap { ($0 == 80 && scheme == "http") || ($0 == 443 && scheme == "https") ? nil : $0 }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        return "\(scheme)://\(host)\(port.map { ":\($0)" } ?? "")\(path)"
    }
}
