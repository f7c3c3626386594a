import Foundation

/// Token introspection (RFC 7662), authoritative: a revoked token, a token of a
/// revoked grant, or one of a deleted client is inactive at once even though its
/// JWT is still good. A refresh token is active only to the client it was issued to.
/// Live access tokens are remembered (see `GenerationCache`) while nothing that
/// could change the answer has changed in the store.
public struct IntrospectionEndpoint: Sendable {
    let authenticator: ClientAuthenticator
    let verifier: any AccessTokenVerifier
    let revocations: any RevocationRepository
    let clients: any ClientRepository
    let grants: any GrantRepository
    let changes: any ChangeTracking
    let clock: any WardenClock
    let cache: GenerationCache<[UInt8], AccessTokenClaims>

    public init(
        authenticator: ClientAuthenticator, verifier: any AccessTokenVerifier, revocations: any RevocationRepository,
        clients: any ClientRepository, grants: any GrantRepository, changes: any ChangeTracking, clock: any WardenClock,
        cacheCapacity: Int = 10_000
    ) {
        self.changes = changes
        self.cache = GenerationCache(capacity: cacheCapacity)
        self.authenticator = authenticator
        self.verifier = verifier
        self.revocations = revocations
        self.clients = clients
        self.grants = grants
        self.clock = clock
    }

    /// Introspects `token` for an authenticated confidential client (RFC 7662 §2.1);
    /// `cached`: the answer came from the cache of live access tokens.
    public func introspect(
        form: FormBody, authorization: String?, address: String? = nil
    ) async throws -> (client: Client, response: IntrospectionResponse, cached: Bool) {
        // Read once, before any check, so that a change during the checks leaves a cache
        // entry stale, never wrong; the client lookups below use the same reading.
        let generations = try await changes.currentGenerations()
        return try await ChangeGenerations.$current.withValue(generations) {
            let client = try await authenticator.authenticate(authorization: authorization, form: form, address: address, endpoint: "/introspect")
            guard client.isConfidential else {
                throw OAuthError.invalidClient(cause: "public clients may not introspect")
            }
            guard let token = form["token"] else { throw OAuthError.invalidRequest("token is required") }
            let digest = OpaqueToken(token).digest
            switch try await accessToken(token, digest: digest, generations: generations) {
            case .active(let claims, let cached): return (client, IntrospectionResponse(claims: claims), cached)
            case .inactive: return (client, .inactive, false)
            case .notAnAccessToken: return (client, try await refreshTokenResponse(digest: digest, caller: client), false)
            }
        }
    }

    /// The claims of `token` when it is a live access token of this server: the liveness
    /// rule of introspection, which UserInfo shares (OpenID Connect Core §5.3); with the
    /// generations it was judged under.
    public func activeAccessToken(_ token: String) async throws -> (claims: AccessTokenClaims, generations: ChangeGenerations)? {
        let generations = try await changes.currentGenerations()
        return try await ChangeGenerations.$current.withValue(generations) {
            guard case .active(let claims, _) = try await accessToken(token, digest: OpaqueToken(token).digest, generations: generations)
            else { return nil }
            return (claims, generations)
        }
    }

    enum AccessTokenState {
        case active(AccessTokenClaims, cached: Bool)
        case inactive
        case notAnAccessToken
    }

    private func accessToken(_ token: String, digest: [UInt8], generations: ChangeGenerations) async throws -> AccessTokenState {
        let now = clock.now()
        if let claims = cache.value(for: digest, generations: generations, now: now) { return .active(claims, cached: true) }
        guard let claims = await verifier.verify(token) else { return .notAnAccessToken }
        guard let liveUntil = try await liveUntil(claims, now: now) else { return .inactive }
        cache.remember(claims, for: digest, until: liveUntil, generations: generations)
        return .active(claims, cached: false)
    }

    /// Until when a verified access token stays live, or nil when it is dead now:
    /// revoked, its client deleted, or its grant revoked or ended.
    private func liveUntil(_ claims: AccessTokenClaims, now: Date) async throws -> Date? {
        if try await revocations.isRevoked(jwtID: claims.jwtID) { return nil }
        if try await clients.client(id: claims.clientID) == nil { return nil }
        guard let grantID = claims.grantID else { return claims.expiresAt }
        guard let grantEnd = try await grants.activeGrantEnd(id: grantID, at: now) else { return nil }
        return min(claims.expiresAt, grantEnd)
    }

    private func refreshTokenResponse(digest: [UInt8], caller: Client) async throws -> IntrospectionResponse {
        let now = clock.now()
        guard let record = try await grants.refreshToken(digest: digest),
            record.isUsable(byClient: caller.id, at: now), record.rotatedAt == nil
        else { return .inactive }
        return IntrospectionResponse(refreshToken: record)
    }
}
