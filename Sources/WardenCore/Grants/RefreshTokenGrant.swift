import Foundation

/// RFC 6749 §6 with rotation (RFC 9700 §4.14): every use returns a new refresh token
/// and kills the old one; presenting a rotated token again revokes the whole grant.
public struct RefreshTokenGrant: GrantHandler {
    let tokens: UserTokenIssuer
    let grants: any GrantRepository
    let clock: any WardenClock

    public init(tokens: UserTokenIssuer, grants: any GrantRepository, clock: any WardenClock) {
        self.tokens = tokens
        self.grants = grants
        self.clock = clock
    }

    public func respond(to form: FormBody, client: Client, dpopKey: String?) async throws -> TokenResponse {
        guard let value = form["refresh_token"] else { throw OAuthError.invalidRequest("refresh_token is required") }
        let now = clock.now()
        let successorToken = OpaqueToken.generate()
        let requestedScope = form["scope"]
        let (tokens, clientID, isPublic) = (self.tokens, client.id, !client.isConfidential)
        let (grace, idleExpiresAt) = (tokens.configuration.refreshTokenGracePeriod, tokens.refreshTokenIdleExpiry(now: now))
        // Decided inside the store's transaction, so check, rotation and reuse revocation are one step.
        let (use, scope) = try await grants.withLockedRefreshToken(digest: OpaqueToken(value).digest, at: now) { record in
            var scope: Scope?
            let step = try GrantLifecycle.presentRefreshToken(
                record, clientID: clientID, at: now, gracePeriod: grace, successor: successorToken.digest, idleExpiresAt: idleExpiresAt,
                dpopKey: isPublic ? dpopKey : nil
            ) { record in
                // RFC 9449 §5: a public client's bound refresh token needs a proof of its key.
                if isPublic, let bound = record.grant.dpopKey, bound != dpopKey {
                    throw OAuthError(.invalidGrant, "The refresh token is bound to a DPoP key: send a proof of that key")
                }
                scope = try Scope.granted(requested: requestedScope, registered: record.scope)
            }
            return GrantStep((step.result, scope), step.writes)
        }
        switch use {
        case .unknown:
            throw OAuthError(.invalidGrant, "The refresh token is invalid or expired")
        case .reused(let record):
            var error = OAuthError(
                .invalidGrant, "The refresh token was already used", cause: "refresh token reuse; grant \(record.grant.id) revoked")
            error.securityEvent = "refresh_token_reuse_detected"
            throw error
        case .accepted(let record):
            return try await tokens.response(
                grant: record.grant, scope: scope ?? record.scope, refreshToken: successorToken, now: now, client: client, dpopKey: dpopKey)
        }
    }
}
