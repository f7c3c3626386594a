import Foundation

/// The claims of an RFC 9068 JWT access token.
public struct AccessTokenClaims: Sendable, Equatable {
    /// `iss`: exactly the issuer URL.
    public var issuer: String
    /// `sub`: the user's id, or the client id for client credentials.
    public var subject: String
    /// `aud`: the resource servers the token is for.
    public var audience: [String]
    /// `client_id`
    public var clientID: String
    /// `scope`
    public var scope: Scope
    /// `iat`
    public var issuedAt: Date
    /// `exp`
    public var expiresAt: Date
    /// `jti`: unique per token.
    public var jwtID: String
    /// `gid`: the grant a user's token came from, so that revoking the grant kills it.
    /// Nil for client credentials, which have no grant.
    public var grantID: String?
    /// `cnf.jkt` (RFC 9449 §6.1): the thumbprint of the DPoP key the token is bound to.
    public var confirmationThumbprint: String?
    /// `act` (RFC 8693 §4.1): who acts for the subject, the current actor first, then
    /// the actors before it (nested `act` members).
    public var actors: [String] = []

    public init(
        issuer: String, subject: String, audience: [String], clientID: String, scope: Scope, issuedAt: Date,
        expiresAt: Date, jwtID: String, grantID: String? = nil, confirmationThumbprint: String? = nil
    ) {
        self.confirmationThumbprint = confirmationThumbprint
        self.grantID = grantID
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.clientID = clientID
        self.scope = scope
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.jwtID = jwtID
    }
}

extension AccessTokenClaims {
    /// RFC 8693 §4.1 `act` as JSON: the current actor, the one before it nested inside,
    /// and so on; nil without actors.
    public var actorJSON: String? {
        actors.reversed().reduce(nil as String?) { inner, subject in
            var writer = JSONObjectWriter(capacity: 64)
            writer.add("sub", subject)
            if let inner { writer.addRaw("act", inner) }
            return String(decoding: writer.finish(), as: UTF8.self)
        }
    }
}

/// Signs access tokens with the current signing key.
public protocol AccessTokenSigner: Sendable {
    /// The compact JWT for these claims.
    func sign(_ claims: AccessTokenClaims) async throws -> String
}

/// Checks that a string is an access token this server issued and that has not expired.
public protocol AccessTokenVerifier: Sendable {
    /// The token's claims when its signature, `kid`, `typ`, `iss` and `exp` are good; else nil.
    func verify(_ token: String) async -> AccessTokenClaims?
}
