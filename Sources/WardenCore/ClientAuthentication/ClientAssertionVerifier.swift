import Foundation

/// `private_key_jwt` (RFC 7523 §2.2, §3; OpenID Connect Core §9): checks a client
/// assertion against the client's keys and spends its `jti`, so that an assertion
/// authenticates one request, on any instance.
public struct ClientAssertionVerifier: Sendable {
    /// RFC 7523 §2.2 `client_assertion_type`.
    public static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// An assertion may be valid at most this far ahead (PROOF-OF-POSSESSION.md).
    static let maximumLifetime: TimeInterval = 600
    /// Clock skew tolerated on `iat` and `nbf`.
    static let clockSkew: TimeInterval = 60
    /// Longer `jti`s are not stored.
    static let maximumJTILength = 255

    let issuer: String
    let keys: ClientKeys
    let usedJTIs: any ProofOfPossessionRepository
    let clock: any WardenClock

    /// `issuer`: the identifier an assertion's `aud` may name, besides the endpoint's URL.
    public init(issuer: String, keys: ClientKeys, usedJTIs: any ProofOfPossessionRepository, clock: any WardenClock) {
        self.issuer = issuer
        self.keys = keys
        self.usedJTIs = usedJTIs
        self.clock = clock
    }

    /// Succeeds when `assertion` authenticates `client` at the endpoint at `path`; else
    /// `invalid_client`, its cause (logged, never sent) saying which check failed.
    public func verify(_ assertion: ClientAssertion, client: Client, endpoint path: String) async throws {
        guard let algorithm = assertion.algorithm else { throw OAuthError.invalidClient(cause: "assertion alg not accepted") }
        guard assertion.issuer == client.id, assertion.subject == client.id else {
            throw OAuthError.invalidClient(cause: "assertion iss and sub must be the client id")
        }
        let accepted = [issuer, EndpointURL.of("/token", issuer: issuer), EndpointURL.of(path, issuer: issuer)]
        guard assertion.audiences.contains(where: accepted.contains) else { throw OAuthError.invalidClient(cause: "assertion aud not this server") }
        let now = clock.now()
        guard let expiresAt = assertion.expiresAt.date else { throw OAuthError.invalidClient(cause: "assertion without a usable exp") }
        guard expiresAt > now else { throw OAuthError.invalidClient(cause: "assertion expired") }
        guard expiresAt <= now.addingTimeInterval(Self.maximumLifetime) else {
            throw OAuthError.invalidClient(cause: "assertion exp more than 10 minutes ahead")
        }
        let latest = now.addingTimeInterval(Self.clockSkew)
        for (claim, name) in [(assertion.issuedAt, "iat"), (assertion.notBefore, "nbf")] where claim != .absent {
            guard let date = claim.date, date <= latest else { throw OAuthError.invalidClient(cause: "assertion \(name) in the future") }
        }
        guard let jti = assertion.jwtID, !jti.isEmpty, jti.utf8.count <= Self.maximumJTILength else {
            throw OAuthError.invalidClient(cause: "assertion without a usable jti")
        }
        let candidates = try await keys.candidates(for: client, keyID: assertion.keyID, algorithm: algorithm)
        guard candidates.contains(where: assertion.isSigned(by:)) else { throw OAuthError.invalidClient(cause: "assertion signature") }
        // Spent last, once everything else holds, so that bad input never fills the table.
        let digest = UsedJTIKind.clientAssertion.digest(issuer: client.id, jti: jti)
        guard try await usedJTIs.spendJTI(digest: digest, kind: .clientAssertion, expiresAt: expiresAt, now: now) else {
            throw OAuthError.invalidClient(cause: "assertion replayed")
        }
    }
}
