import Foundation

/// RFC 8693 Token Exchange: a service presents an access token it was sent (the subject
/// token) and gets one for another audience, acting for the same user. It may exchange
/// only tokens sent to one of its own audiences, for audiences it is registered for, and
/// never for more scope or a longer life than the subject token had. The new token keeps
/// the subject's grant (`gid`), so revoking that grant ends it too.
public struct TokenExchangeGrant: GrantHandler {
    /// RFC 8693 §3: the one token type exchanged, and issued.
    public static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"

    let issuer: String
    let introspection: IntrospectionEndpoint
    let signer: any AccessTokenSigner
    let clock: any WardenClock

    public init(issuer: String, introspection: IntrospectionEndpoint, signer: any AccessTokenSigner, clock: any WardenClock) {
        self.issuer = issuer
        self.introspection = introspection
        self.signer = signer
        self.clock = clock
    }

    public func respond(to form: FormBody, client: Client, dpopKey: String?) async throws -> TokenResponse {
        guard client.isConfidential else { throw OAuthError(.unauthorizedClient, "Public clients cannot exchange tokens") }
        let subject = try await liveToken(form, "subject_token", typeParameter: "subject_token_type")
        // A service exchanges the tokens that were sent to it, and no others.
        guard subject.audience.contains(where: client.audiences.contains) else {
            throw OAuthError.invalidRequest("The subject token was not issued for this client's audience")
        }
        var actors = subject.actors
        if form["actor_token"] != nil {
            let actor = try await liveToken(form, "actor_token", typeParameter: "actor_token_type")
            actors.insert(actor.subject, at: 0)
        } else if form["actor_token_type"] != nil {
            throw OAuthError.invalidRequest("actor_token_type without actor_token")
        }
        let requested = (form.values(of: "resource") + form.values(of: "audience")).uniqued()
        let audience = requested.isEmpty ? Array(client.exchangeAudiences.prefix(1)) : requested
        guard !audience.isEmpty, audience.allSatisfy(client.exchangeAudiences.contains) else {
            throw OAuthError(.invalidTarget, "This client may not get tokens for that audience by exchange")
        }
        let scope = try Scope.granted(requested: form["scope"], registered: subject.scope)
        let now = clock.now()
        // Never outlives the token it was exchanged for.
        let expiresAt = subject.expiresAt
        let lifetime = Int(expiresAt.timeIntervalSince(now).rounded(.down))
        guard lifetime > 0 else { throw OAuthError.invalidRequest("The subject token is invalid or expired") }
        var claims = AccessTokenClaims(
            issuer: issuer, subject: subject.subject, audience: audience, clientID: client.id, scope: scope, issuedAt: now,
            expiresAt: expiresAt, jwtID: RandomToken.make(byteCount: 16), grantID: subject.grantID, confirmationThumbprint: dpopKey)
        claims.actors = actors
        var response = TokenResponse(
            accessToken: try await signer.sign(claims), expiresIn: lifetime, scope: scope, dpopBound: dpopKey != nil)
        response.issuedTokenType = Self.accessTokenType
        return response
    }

    /// The claims of the live access token in `parameter`, of the type `typeParameter`
    /// names (RFC 8693 §2.2.2: anything else is `invalid_request`).
    func liveToken(_ form: FormBody, _ parameter: String, typeParameter: String) async throws -> AccessTokenClaims {
        guard let token = form[parameter] else { throw OAuthError.invalidRequest("\(parameter) is required") }
        guard let type = form[typeParameter] else { throw OAuthError.invalidRequest("\(typeParameter) is required") }
        guard type == Self.accessTokenType else {
            throw OAuthError.invalidRequest("\(typeParameter) must be \(Self.accessTokenType)")
        }
        guard let (claims, _) = try await introspection.activeAccessToken(token) else {
            throw OAuthError.invalidRequest("The \(parameter) is invalid or expired")
        }
        // PROOF-OF-POSSESSION.md: a DPoP-bound token is never usable without its key, and
        // the exchanging service does not hold it.
        guard claims.confirmationThumbprint == nil else {
            throw OAuthError.invalidRequest("The \(parameter) is DPoP-bound and cannot be exchanged")
        }
        return claims
    }
}
