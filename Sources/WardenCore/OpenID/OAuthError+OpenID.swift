extension OAuthError.Code {
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, and the user must sign in.
    public static let loginRequired = Self(rawValue: "login_required")
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, and the user must consent.
    public static let consentRequired = Self(rawValue: "consent_required")
    /// OpenID Connect Core §3.1.2.6: request objects are not supported.
    public static let requestNotSupported = Self(rawValue: "request_not_supported")
    /// OpenID Connect Core §3.1.2.6: `request_uri` is not supported.
    public static let requestURINotSupported = Self(rawValue: "request_uri_not_supported")
    /// RFC 6750 §3.1: the access token is expired, revoked, malformed or not this server's.
    public static let invalidToken = Self(rawValue: "invalid_token")
    /// RFC 6750 §3.1: the access token lacks the scope the resource needs.
    public static let insufficientScope = Self(rawValue: "insufficient_scope")
}
