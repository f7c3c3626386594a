import Foundation

/// Issues the tokens of grants a user gave (code and refresh flows): the access
/// token carries the grant id, the refresh token's lifetimes come from here, and a
/// grant whose scope has `openid` gets an ID token too (OpenID Connect Core §3.1.3.3, §12.2).
public struct UserTokenIssuer: Sendable {
    /// Lifetimes, in seconds.
    public struct Configuration: Sendable {
        public var issuer: String
        public var accessTokenLifetime: Int
        /// A refresh token unused this long dies.
        public var refreshTokenIdleLifetime: TimeInterval
        /// No refresh chain outlives this, counted from the code's redemption.
        public var refreshTokenAbsoluteLifetime: TimeInterval
        /// Seconds in which a just-rotated refresh token may be replayed once (0: off).
        public var refreshTokenGracePeriod: TimeInterval
        /// How long an ID token is valid.
        public var idTokenLifetime: TimeInterval = 3600

        public init(
            issuer: String, accessTokenLifetime: Int, refreshTokenIdleLifetime: TimeInterval,
            refreshTokenAbsoluteLifetime: TimeInterval, refreshTokenGracePeriod: TimeInterval, idTokenLifetime: TimeInterval = 3600
        ) {
            self.idTokenLifetime = idTokenLifetime
            self.issuer = issuer
            self.accessTokenLifetime = accessTokenLifetime
            self.refreshTokenIdleLifetime = refreshTokenIdleLifetime
            self.refreshTokenAbsoluteLifetime = refreshTokenAbsoluteLifetime
            self.refreshTokenGracePeriod = refreshTokenGracePeriod
        }
    }

    public let configuration: Configuration
    let signer: any AccessTokenSigner
    let idTokens: (any OpenIDTokenSigner)?
    let users: (any UserRepository)?

    /// Without `idTokens` no ID token is issued; `users` is read only when a `claims`
    /// request asks for user claims in the ID token.
    public init(
        configuration: Configuration, signer: any AccessTokenSigner, idTokens: (any OpenIDTokenSigner)? = nil,
        users: (any UserRepository)? = nil
    ) {
        self.configuration = configuration
        self.signer = signer
        self.idTokens = idTokens
        self.users = users
    }

    func grantExpiry(now: Date) -> Date { now.addingTimeInterval(configuration.refreshTokenAbsoluteLifetime) }

    func refreshTokenIdleExpiry(now: Date) -> Date { now.addingTimeInterval(configuration.refreshTokenIdleLifetime) }

    /// The token response; `nonce` is the code's (a refresh's ID token has none, Core §12.2);
    /// `dpopKey` the thumbprint the access token is bound to.
    func response(
        grant: GrantRecord, scope: Scope, refreshToken: OpaqueToken?, now: Date, client: Client, nonce: String? = nil, dpopKey: String? = nil
    ) async throws -> TokenResponse {
        let claims = AccessTokenClaims(
            issuer: configuration.issuer, subject: grant.userID, audience: grant.audience, clientID: grant.clientID, scope: scope,
            issuedAt: now, expiresAt: now.addingTimeInterval(TimeInterval(configuration.accessTokenLifetime)),
            jwtID: RandomToken.make(byteCount: 16), grantID: grant.id, confirmationThumbprint: dpopKey)
        var response = TokenResponse(
            accessToken: try await signer.sign(claims), expiresIn: configuration.accessTokenLifetime, scope: scope,
            refreshToken: refreshToken?.value, dpopBound: dpopKey != nil)
        if scope.tokens.contains("openid"), let idTokens {
            response.idToken = try await idTokens.signIDToken(
                try await idTokenClaims(grant: grant, accessToken: response.accessToken, now: now, client: client, nonce: nonce),
                algorithm: client.idTokenSigningAlgorithm)
        }
        return response
    }

    /// Core §2: scope claims go to UserInfo only; the `claims` request's `id_token`
    /// member adds the ones it names (Core §5.5).
    func idTokenClaims(grant: GrantRecord, accessToken: String, now: Date, client: Client, nonce: String?) async throws -> IDTokenClaims {
        var userClaims: [(name: String, value: ClaimValue)] = []
        if let json = grant.claimsRequest, let requested = try? ClaimsRequest(json: json), !requested.idToken.isEmpty,
            let user = try await users?.user(id: grant.userID)
        {
            userClaims = StandardClaims.claims(of: user, scope: .empty, requested: requested.idToken)
        }
        return IDTokenClaims(
            issuer: configuration.issuer, subject: grant.userID, clientID: client.id, issuedAt: now,
            expiresAt: now.addingTimeInterval(configuration.idTokenLifetime), authTime: grant.authTime, nonce: nonce,
            accessTokenHash: IDTokenClaims.accessTokenHash(accessToken, algorithm: client.idTokenSigningAlgorithm),
            sessionID: grant.sessionID, userClaims: userClaims)
    }
}
