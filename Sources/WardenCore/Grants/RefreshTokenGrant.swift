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
        let presented = OpaqueToken(value)
        guard let record = try await grants.refreshToken(digest: presented.digest), record.isUsable(byClient: client.id, at: now) else {
            throw OAuthError(.invalidGrant, "The refresh token is invalid or expired")
        }
        // Narrowing applies to the access token; the new refresh token keeps the old scope (§6).
        let scope = try Scope.granted(requested: form["scope"], registered: record.scope)
        let successorToken = OpaqueToken.generate()
        let successor = tokens.newRefreshToken(successorToken, scope: record.scope, now: now)

        let accepted: Bool
        if let rotatedAt = record.rotatedAt {
            let grace = tokens.configuration.refreshTokenGracePeriod
            if grace > 0, !record.graceUsed, now.timeIntervalSince(rotatedAt) <= grace {
                accepted = try await grants.replayWithinGrace(refreshTokenDigest: presented.digest, at: now, successor: successor)
            } else {
                accepted = false
            }
        } else {
            accepted = try await grants.rotate(refreshTokenDigest: presented.digest, at: now, successor: successor)
        }
        guard accepted else {
            try await grants.revokeGrant(id: record.grant.id, at: now)
            throw OAuthError(.invalidGrant, "The refresh token was already used", cause: "refresh token reuse; grant \(record.grant.id) revoked")
        }
        return try await tokens.response(grant: record.grant, scope: scope, refreshToken: successorToken, now: now)
    }
}
