import Foundation

/// OpenID Connect Core §5.3 UserInfo: the claims about the user of a live access token
/// whose scope has `openid`, by its scopes and its grant's `claims` request. Liveness is
/// introspection's rule; its `aud` does not matter.
public struct UserInfoEndpoint: Sendable {
    let introspection: IntrospectionEndpoint
    let grants: any GrantRepository
    let clock: any WardenClock
    /// A grant's user and `claims` request, as read: deleting the user or revoking the
    /// grant changes the generations at once; a profile changed with the CLI shows within
    /// `profileLifetime` (INTERFACE.md: CLI changes reach every server within 5 seconds).
    let holders: GenerationCache<String, GrantHolder>
    static let profileLifetime: TimeInterval = 2

    struct GrantHolder: Sendable {
        let user: User
        /// The `claims` request's `userinfo` names.
        let requested: [String]
    }

    public init(introspection: IntrospectionEndpoint, grants: any GrantRepository, clock: any WardenClock, cacheCapacity: Int = 10_000) {
        self.introspection = introspection
        self.grants = grants
        self.clock = clock
        self.holders = GenerationCache(capacity: cacheCapacity)
    }

    /// `sub` and the claims; an `OAuthError` with an RFC 6750 §3.1 code otherwise
    /// (`invalid_token`, `insufficient_scope`). `dpopKey`: the thumbprint of the proof
    /// presented with the token (RFC 9449 §7), nil when it came as a bearer token; a
    /// bound token needs a proof of its key, and a proof needs a token bound to its key.
    public func claims(accessToken: String, dpopKey: String? = nil) async throws -> [(name: String, value: ClaimValue)] {
        guard let (claims, generations) = try await introspection.activeAccessToken(accessToken) else {
            var error = OAuthError(.invalidToken, "The access token is invalid")
            error.dpopChallenge = dpopKey != nil
            throw error
        }
        guard claims.confirmationThumbprint == dpopKey else {
            var error = OAuthError(
                .invalidToken, dpopKey == nil ? "The access token is DPoP-bound: present it with a DPoP proof" : "The DPoP proof is not of the token's key")
            error.dpopChallenge = true
            throw error
        }
        // A live token without openid (a client's own, say) is not invalid, only not enough.
        guard claims.scope.tokens.contains("openid") else {
            throw OAuthError(.insufficientScope, "The access token's scope lacks openid")
        }
        guard let grantID = claims.grantID, let holder = try await holder(of: grantID, generations: generations) else {
            throw OAuthError(.invalidToken, "The access token is invalid")
        }
        return [("sub", .string(holder.user.id))] + StandardClaims.claims(of: holder.user, scope: claims.scope, requested: holder.requested)
    }

    private func holder(of grantID: String, generations: ChangeGenerations) async throws -> GrantHolder? {
        let now = clock.now()
        if let holder = holders.value(for: grantID, generations: generations, now: now) { return holder }
        guard let (user, claimsRequest) = try await grants.userAndClaimsRequest(grantID: grantID) else { return nil }
        let holder = GrantHolder(user: user, requested: claimsRequest.flatMap { try? ClaimsRequest(json: $0) }?.userinfo ?? [])
        holders.remember(holder, for: grantID, until: now.addingTimeInterval(Self.profileLifetime), generations: generations)
        return holder
    }
}
