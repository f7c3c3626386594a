import Foundation

/// A validated `/authorize` request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707, OpenID
/// Connect Core §3.1.2.1).
public struct AuthorizationRequest: Sendable, Equatable {
    public var client: Client
    /// Where the response goes, as the request gave it: a registered redirect URI, or a
    /// loopback one differing from a registered one in its port only (RFC 8252 §7.3);
    /// the registered URI when the request named none.
    public var redirectURI: String
    /// Whether the request named it (RFC 6749 §4.1.3: then the token request must repeat it).
    public var redirectURIExplicit: Bool
    public var scope: Scope
    /// Echoed exactly in the response.
    public var state: String?
    public var codeChallenge: String?
    public var codeChallengeMethod: PKCE.Method?
    public var audience: [String]
    /// How the response travels (OAuth 2.0 Form Post Response Mode).
    public var responseMode: ResponseMode = .query
    /// Echoed in the ID token.
    public var nonce: String?
    public var prompt: Set<Prompt> = []
    /// Seconds since the user last entered a password after which they must again.
    public var maxAge: Int?
    /// Fills the login form's username.
    public var loginHint: String?
    /// The `id_token_hint`, verified.
    public var idTokenHint: IDTokenHint?
    /// The `claims` parameter, validated, as sent.
    public var claimsRequest: String?
    /// RFC 9449 §10 `dpop_jkt`: the code is bound to this key.
    public var dpopKey: String?
    /// SHA-256 of the `request_uri` when the parameters were pushed (RFC 9126).
    public var pushedRequestDigest: [UInt8]?

    /// What the user is asked to allow: the scope, and the scopes whose user claims the
    /// `claims` parameter asks for (Core §5.5): a request for `email` alone shares the
    /// address as much as the `email` scope would.
    public var consentScope: Scope {
        guard let json = claimsRequest, let claims = try? ClaimsRequest(json: json) else { return scope }
        let asked = StandardClaims.scopes(askedBy: claims.userinfo + claims.idToken).filter { !scope.tokens.contains($0) }
        return asked.isEmpty ? scope : Scope(tokens: scope.tokens + asked)
    }

    public init(
        client: Client, redirectURI: String, redirectURIExplicit: Bool, scope: Scope, state: String?, codeChallenge: String?,
        codeChallengeMethod: PKCE.Method?, audience: [String]
    ) {
        self.client = client
        self.redirectURI = redirectURI
        self.redirectURIExplicit = redirectURIExplicit
        self.scope = scope
        self.state = state
        self.codeChallenge = codeChallenge
        self.codeChallengeMethod = codeChallengeMethod
        self.audience = audience
    }

    /// Whether the client asked to sign the user in (OpenID Connect), not only for access.
    public var isOpenID: Bool { scope.tokens.contains("openid") }
}

/// OpenID Connect Core §3.1.2.1 `prompt` values.
public enum Prompt: String, Sendable, Hashable {
    /// Show no page at all: answer from the session, or fail.
    case none
    /// Ask for the password even with a live session.
    case login
    /// Ask for consent even when it was given before.
    case consent
    /// One account per session here: the same as `login`.
    case selectAccount = "select_account"
}

/// How the authorization response reaches the client.
public enum ResponseMode: String, Sendable {
    /// Parameters in the redirect URI's query (RFC 6749 §4.1.2).
    case query
    /// An auto-submitted HTML form POSTing them (OAuth 2.0 Form Post Response Mode).
    case formPost = "form_post"
}

/// The authorization response or error, before it is written as a redirect or a form.
public struct AuthorizationResponse: Sendable, Equatable {
    /// One response parameter.
    public struct Parameter: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    public var redirectURI: String
    /// In order: `code` or `error`..., then `state`, then `iss`.
    public var parameters: [Parameter]
    public var mode: ResponseMode

    public init(redirectURI: String, parameters: [(String, String)], mode: ResponseMode) {
        self.redirectURI = redirectURI
        self.parameters = parameters.map { Parameter(name: $0.0, value: $0.1) }
        self.mode = mode
    }

    /// The value of parameter `name`.
    public subscript(name: String) -> String? { parameters.first { $0.name == name }?.value }

    /// The redirect URI with the parameters added to its query (RFC 6749 §4.1.2: keeping any
    /// query it has); the URI as it is when there are none.
    public var location: String {
        guard !parameters.isEmpty else { return redirectURI }
        let encoded = parameters.map { "\(Self.formEncode($0.name))=\(Self.formEncode($0.value))" }.joined(separator: "&")
        return redirectURI + (redirectURI.contains("?") ? "&" : "?") + encoded
    }

    static func formEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    /// RFC 3986 unreserved characters, ASCII only.
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}

/// Why an authorization request fails, and so where the error goes.
public enum AuthorizationFailure: Error, Sendable, Equatable {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect (RFC 6749 §4.1.2.1).
    case page(OAuthError)
    /// Any other error: back to the client with `error`, `state` and `iss`.
    case redirect(AuthorizationResponse)
}

/// What the browser must do next for a valid request.
public enum AuthorizationStep: Sendable, Equatable {
    /// Show the login page.
    case signIn
    /// Show the consent page.
    case consent
    /// Issue the code and send it to the client.
    case issueCode
    /// Send this error to the client (`prompt=none` that needs a page).
    case fail(AuthorizationResponse)
}
