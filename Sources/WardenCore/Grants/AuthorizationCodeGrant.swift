import Foundation

/// RFC 6749 §4.1.3: exchanging an authorization code (with its PKCE verifier) for tokens.
public struct AuthorizationCodeGrant: GrantHandler {
    let tokens: UserTokenIssuer
    let grants: any GrantRepository
    let clock: any WardenClock

    public init(tokens: UserTokenIssuer, grants: any GrantRepository, clock: any WardenClock) {
        self.tokens = tokens
        self.grants = grants
        self.clock = clock
    }

    public func respond(to form: FormBody, client: Client, dpopKey: String?) async throws -> TokenResponse {
        guard let value = form["code"] else { throw OAuthError.invalidRequest("code is required") }
        let now = clock.now()
        let refresh = client.grantTypes.contains(.refreshToken) ? OpaqueToken.generate() : nil
        let (tokens, clientID) = (self.tokens, client.id)
        let (grantExpiresAt, idleExpiresAt) = (tokens.grantExpiry(now: now), tokens.refreshTokenIdleExpiry(now: now))
        // Decided inside the store's transaction, so check, redemption and reuse revocation are one step.
        // RFC 9449 §5: a public client's refresh tokens are bound to the key it redeemed the code with.
        let refreshKey = client.isConfidential ? nil : dpopKey
        let use = try await grants.withLockedCode(digest: OpaqueToken(value).digest, at: now) { record in
            try GrantLifecycle.presentCode(
                record, clientID: clientID, grantExpiresAt: grantExpiresAt, refreshToken: refresh?.digest, idleExpiresAt: idleExpiresAt,
                dpopKey: refreshKey
            ) { try Self.check($0, form: form, now: now, dpopKey: dpopKey) }
        }
        switch use {
        case .unknown:
            throw OAuthError(.invalidGrant, "The code is invalid")
        case .reused(let record):
            var error = OAuthError(.invalidGrant, "The code was already used", cause: "code reuse; grant \(record.grant.id) revoked")
            error.securityEvent = "code_reuse_detected"
            throw error
        case .accepted(let record):
            return try await tokens.response(
                grant: record.grant, scope: record.grant.scope, refreshToken: refresh, now: now, client: client, nonce: record.nonce,
                dpopKey: dpopKey)
        }
    }

    /// The code is live, and the request matches its redirect URI, PKCE challenge and
    /// DPoP key (RFC 9449 §10: `dpop_jkt` at the authorization request).
    static func check(_ record: AuthorizationCodeRecord, form: FormBody, now: Date, dpopKey: String? = nil) throws {
        guard now < record.expiresAt, record.grant.revokedAt == nil else {
            throw OAuthError(.invalidGrant, "The code has expired")
        }
        if let bound = record.grant.dpopKey, bound != dpopKey {
            throw OAuthError(.invalidGrant, "The code is bound to a DPoP key: send a proof of that key")
        }
        if record.redirectURIExplicit || form["redirect_uri"] != nil {
            guard form["redirect_uri"] == record.redirectURI else {
                throw OAuthError(.invalidGrant, "redirect_uri does not match the authorization request")
            }
        }
        if let challenge = record.codeChallenge, let method = record.codeChallengeMethod {
            guard let verifier = form["code_verifier"] else {
                throw OAuthError(.invalidGrant, "code_verifier is missing: the code was issued with a code_challenge")
            }
            guard PKCE.verify(verifier: verifier, challenge: challenge, method: method) else {
                throw OAuthError(.invalidGrant, "code_verifier does not match the code_challenge")
            }
        } else if form["code_verifier"] != nil {
            // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
            throw OAuthError(.invalidGrant, "The code was issued without a code_challenge")
        }
    }
}
