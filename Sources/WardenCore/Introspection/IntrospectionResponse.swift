/// RFC 7662 §2.2 introspection response.
public struct IntrospectionResponse: Sendable, Equatable, Encodable {
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
        self.tokenType = "Bearer"
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

    enum CodingKeys: String, CodingKey {
        case active, scope, iss, sub, aud, exp, iat, jti
        case clientID = "client_id"
        case tokenType = "token_type"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(active, forKey: .active)
        try container.encodeIfPresent(scope, forKey: .scope)
        try container.encodeIfPresent(clientID, forKey: .clientID)
        try container.encodeIfPresent(subject, forKey: .sub)
        // RFC 7519 §4.1.3: a single audience may be a plain string.
        if let audience {
            if audience.count == 1 { try container.encode(audience[0], forKey: .aud) } else { try container.encode(audience, forKey: .aud) }
        }
        try container.encodeIfPresent(issuer, forKey: .iss)
        try container.encodeIfPresent(expiresAt, forKey: .exp)
        try container.encodeIfPresent(issuedAt, forKey: .iat)
        try container.encodeIfPresent(jwtID, forKey: .jti)
        try container.encodeIfPresent(tokenType, forKey: .tokenType)
    }
}
