/// A successful token response (RFC 6749 §5.1).
public struct TokenResponse: Sendable, Equatable {
    public var accessToken: String
    public var tokenType: String
    public var expiresIn: Int
    public var scope: String
    public var refreshToken: String?
    /// OpenID Connect Core §3.1.3.3.
    public var idToken: String?
    /// RFC 8693 §2.2.1: what a token exchange issued.
    public var issuedTokenType: String?

    /// `dpopBound`: the access token carries `cnf.jkt`, so its type is `DPoP` (RFC 9449 §5).
    public init(accessToken: String, expiresIn: Int, scope: Scope, refreshToken: String? = nil, dpopBound: Bool = false) {
        self.accessToken = accessToken
        self.tokenType = dpopBound ? "DPoP" : "Bearer"
        self.expiresIn = expiresIn
        self.scope = scope.description
        self.refreshToken = refreshToken
    }

    /// The kinds of token in the response: `access_token`, then `refresh_token` and `id_token` when present.
    public var issuedTokenTypes: [String] {
        ["access_token"] + (refreshToken == nil ? [] : ["refresh_token"]) + (idToken == nil ? [] : ["id_token"])
    }

    /// The JSON body (RFC 6749 §5.1).
    public var json: [UInt8] {
        var writer = JSONObjectWriter()
        writer.add("access_token", accessToken)
        if let issuedTokenType { writer.add("issued_token_type", issuedTokenType) }
        writer.add("token_type", tokenType)
        writer.add("expires_in", expiresIn)
        writer.add("scope", scope)
        if let refreshToken { writer.add("refresh_token", refreshToken) }
        if let idToken { writer.add("id_token", idToken) }
        return writer.finish()
    }
}
