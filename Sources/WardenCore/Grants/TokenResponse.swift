/// A successful token response (RFC 6749 §5.1).
public struct TokenResponse: Sendable, Equatable, Encodable {
    public var accessToken: String
    public var tokenType: String
    public var expiresIn: Int
    public var scope: String
    public var refreshToken: String?

    public init(accessToken: String, expiresIn: Int, scope: Scope, refreshToken: String? = nil) {
        self.accessToken = accessToken
        self.tokenType = "Bearer"
        self.expiresIn = expiresIn
        self.scope = scope.description
        self.refreshToken = refreshToken
    }

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case scope
        case refreshToken = "refresh_token"
    }
}
