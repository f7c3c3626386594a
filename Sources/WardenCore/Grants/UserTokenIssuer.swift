import Foundation

/// Issues the tokens of grants a user gave (code and refresh flows): the access
/// token carries the grant id, the refresh token's lifetimes come from here.
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

        public init(
            issuer: String, accessTokenLifetime: Int, refreshTokenIdleLifetime: TimeInterval,
            refreshTokenAbsoluteLifetime: TimeInterval, refreshTokenGracePeriod: TimeInterval
        ) {
            self.issuer = issuer
            self.accessTokenLifetime = accessTokenLifetime
            self.refreshTokenIdleLifetime = refreshTokenIdleLifetime
            self.refreshTokenAbsoluteLifetime = refreshTokenAbsoluteLifetime
            self.refreshTokenGracePeriod = refreshTokenGracePeriod
        }
    }

    public let configuration: Configuration
    let signer: any AccessTokenSigner

    public init(configuration: Configuration, signer: any AccessTokenSigner) {
        self.configuration = configuration
        self.signer = signer
    }

    func grantExpiry(now: Date) -> Date { now.addingTimeInterval(configuration.refreshTokenAbsoluteLifetime) }

    func refreshTokenIdleExpiry(now: Date) -> Date { now.addingTimeInterval(configuration.refreshTokenIdleLifetime) }

    func response(grant: GrantRecord, scope: Scope, refreshToken: OpaqueToken?, now: Date) async throws -> TokenResponse {
        let claims = AccessTokenClaims(
            issuer: configuration.issuer, subject: grant.userID, audience: grant.audience, clientID: grant.clientID, scope: scope,
            issuedAt: now, expiresAt: now.addingTimeInterval(TimeInterval(configuration.accessTokenLifetime)),
            jwtID: RandomToken.make(byteCount: 16), grantID: grant.id)
        return TokenResponse(
            accessToken: try await signer.sign(claims), expiresIn: configuration.accessTokenLifetime, scope: scope,
            refreshToken: refreshToken?.value)
    }
}
