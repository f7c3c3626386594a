/// RFC 7662 §2.2 introspection response.
public struct IntrospectionResponse: Sendable, Equatable {
    public var active: Bool
    public var scope: String?
    public var clientID: String?
    public var subject: String?
    public var audience: [String]?
    public var issuer: String?
    public var expiresAt: Int?
    public var issuedAt: Int?
    public var jwtID: String?
    public var tokenType: String?
    /// RFC 9449 §6.2: the DPoP key thumbprint of a bound token.
    public var confirmationThumbprint: String?
    /// RFC 8693 §4.1: who acts for the subject of an exchanged token, as JSON.
    public var actor: String?

    /// `{"active": false}` and nothing else (§2.2).
    public static let inactive = IntrospectionResponse(active: false)

    init(active: Bool) { self.active = active }

    /// The response for a live access token.
    public init(claims: AccessTokenClaims) {
        self.active = true
        self.scope = claims.scope.description
        self.clientID = claims.clientID
        self.subject = claims.subject
        self.audience = claims.audience
        self.issuer = claims.issuer
        self.expiresAt = Int(claims.expiresAt.timeIntervalSince1970)
        self.issuedAt = Int(claims.issuedAt.timeIntervalSince1970)
        self.jwtID = claims.jwtID
        self.tokenType = claims.confirmationThumbprint == nil ? "Bearer" : "DPoP"
        self.confirmationThumbprint = claims.confirmationThumbprint
        self.actor = claims.actorJSON
    }

    /// The response for a live refresh token; `exp` is when it dies unused.
    public init(refreshToken record: RefreshTokenRecord) {
        self.active = true
        self.scope = record.scope.description
        self.clientID = record.grant.clientID
        self.subject = record.grant.userID
        self.audience = record.grant.audience
        self.expiresAt = Int(min(record.idleExpiresAt, record.grant.expiresAt).timeIntervalSince1970)
        self.issuedAt = Int(record.issuedAt.timeIntervalSince1970)
        self.tokenType = "refresh_token"
    }

    /// The JSON body (RFC 7662 §2.2). RFC 7519 §4.1.3: a single audience is a plain string.
    public var json: [UInt8] {
        var writer = JSONObjectWriter(capacity: 384)
        writer.add("active", active)
        if let scope { writer.add("scope", scope) }
        if let clientID { writer.add("client_id", clientID) }
        if let subject { writer.add("sub", subject) }
        if let audience {
            if audience.count == 1 { writer.add("aud", audience[0]) } else { writer.add("aud", audience) }
        }
        if let issuer { writer.add("iss", issuer) }
        if let expiresAt { writer.add("exp", expiresAt) }
        if let issuedAt { writer.add("iat", issuedAt) }
        if let jwtID { writer.add("jti", jwtID) }
        if let tokenType { writer.add("token_type", tokenType) }
        if let thumbprint = confirmationThumbprint { writer.addRaw("cnf", #"{"jkt":"\#(thumbprint)"}"#) }
        if let actor { writer.addRaw("act", actor) }
        return writer.finish()
    }
}
