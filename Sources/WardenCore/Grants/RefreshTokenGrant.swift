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

    public func respond(to form: FormBody, client: Client) async throws -> TokenResponse {
        guard let value = form["refresh_token"] else { throw OAuthError.invalidRequest("refresh_token is required") }
        let now = clock.now()
        let successorToken = OpaqueToken.generate()
        let requestedScope = form["scope"]
        let (tokens, clientID) = (self.tokens, client.id)
        // Decided inside the store's transaction, so check, rotation and reuse revocation are one step.
        let exchange = try await grants.exchangeRefreshToken(digest: OpaqueToken(value).digest, at: now) { record in
            guard record.isUsable(byClient: clientID, at: now) else {
                throw OAuthError(.invalidGrant, "The refresh token is invalid or expired")
            }
            // Narrowing applies to the access token; the new refresh token keeps the old scope (§6).
            _ = try Scope.granted(requested: requestedScope, registered: record.scope)
            let successor = tokens.newRefreshToken(successorToken, scope: record.scope, now: now)
            guard let rotatedAt = record.rotatedAt else { return .rotate(successor: successor) }
            let grace = tokens.configuration.refreshTokenGracePeriod
            if grace > 0, !record.graceUsed, now.timeIntervalSince(rotatedAt) <= grace { return .replayWithinGrace(successor: successor) }
            return .reuse
        }
        switch exchange {
        case .unknown:
            throw OAuthError(.invalidGrant, "The refresh token is invalid or expired")
        case .reused(let record):
            throw OAuthError(.invalidGrant, "The refresh token was already used", cause: "refresh token reuse; grant \(record.grant.id) revoked")
        case .exchanged(let record):
            let scope = try Scope.granted(requested: requestedScope, registered: record.scope)
            return try await tokens.response(grant: record.grant, scope: scope, refreshToken: successorToken, now: now)
        }
    }
}
