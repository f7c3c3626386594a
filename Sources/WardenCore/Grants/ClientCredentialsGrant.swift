import Foundation

/// RFC 6749 §4.4: a confidential client gets an access token for itself.
public struct ClientCredentialsGrant: GrantHandler {
    /// What this grant needs to know of the server's configuration.
    public struct Configuration: Sendable {
        public var issuer: String
        public var accessTokenLifetime: Int
        public var defaultAudience: String
        public init(issuer: String, accessTokenLifetime: Int, defaultAudience: String) {
            self.issuer = issuer
            self.accessTokenLifetime = accessTokenLifetime
            self.defaultAudience = defaultAudience
        }
    }

    let configuration: Configuration
    let signer: any AccessTokenSigner
    let clock: any WardenClock

    public init(configuration: Configuration, signer: any AccessTokenSigner, clock: any WardenClock) {
        self.configuration = configuration
        self.signer = signer
        self.clock = clock
    }

    public func respond(to form: FormBody, client: Client, dpopKey: String?) async throws -> TokenResponse {
        // RFC 6749 §4.4: only confidential clients; a public one never reaches here
        // (registration refuses it), but the rule is the protocol's, so check it.
        guard client.isConfidential else {
            throw OAuthError(.unauthorizedClient, "Public clients cannot use client_credentials")
        }
        // `openid` signs a person in; here there is none (OpenID Connect Core §3).
        let registered = client.scope.tokens.contains("openid") ? Scope(tokens: client.scope.tokens.filter { $0 != "openid" }) : client.scope
        let scope = try Scope.granted(requested: form["scope"], registered: registered)
        let audience = try AudienceSelection.select(
            requested: form.values(of: "resource"), registered: client.audiences,
            defaultAudience: configuration.defaultAudience
        )
        let now = clock.now()
        let claims = AccessTokenClaims(
            issuer: configuration.issuer, subject: client.id, audience: audience, clientID: client.id, scope: scope,
            issuedAt: now, expiresAt: now.addingTimeInterval(TimeInterval(configuration.accessTokenLifetime)),
            jwtID: RandomToken.make(byteCount: 16), confirmationThumbprint: dpopKey
        )
        let token = try await signer.sign(claims)
        return TokenResponse(accessToken: token, expiresIn: configuration.accessTokenLifetime, scope: scope, dpopBound: dpopKey != nil)
    }
}
