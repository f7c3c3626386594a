import Foundation

/// OpenID Connect Core §5.3 UserInfo: the claims about the user of a live access token
/// whose scope has `openid`, by its scopes and its grant's `claims` request. Liveness is
/// introspection's rule; its `aud` does not matter.
public struct UserInfoEndpoint: Sendable {
    let introspection: IntrospectionEndpoint
    let grants: any GrantRepository

    public init(introspection: IntrospectionEndpoint, grants: any GrantRepository) {
        self.introspection = introspection
        self.grants = grants
    }

    /// `sub` and the claims; an `OAuthError` with an RFC 6750 §3.1 code otherwise
    /// (`invalid_token`, `insufficient_scope`).
    public func claims(accessToken: String) async throws -> [(name: String, value: ClaimValue)] {
        guard let claims = try await introspection.activeAccessToken(accessToken) else {
            throw OAuthError(.invalidToken, "The access token is invalid")
        }
        // A live token without openid (a client's own, say) is not invalid, only not enough.
        guard claims.scope.tokens.contains("openid") else {
            throw OAuthError(.insufficientScope, "The access token's scope lacks openid")
        }
        guard let grantID = claims.grantID, let (user, claimsRequest) = try await grants.userAndClaimsRequest(grantID: grantID) else {
            throw OAuthError(.invalidToken, "The access token is invalid")
        }
        let requested = claimsRequest.flatMap { try? ClaimsRequest(json: $0) }?.userinfo ?? []
        return [("sub", .string(user.id))] + StandardClaims.claims(of: user, scope: claims.scope, requested: requested)
    }
}
