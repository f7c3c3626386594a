import Foundation

/// The authorization endpoint's protocol logic: validating requests, deciding
/// whether consent is needed, issuing codes and building the redirects.
public struct AuthorizationEndpoint: Sendable {
    /// What the endpoint needs of the configuration.
    public struct Configuration: Sendable {
        public var issuer: String
        public var defaultAudience: String
        /// RFC 7636 `plain` is refused unless this is on (RFC 9700 §2.1.1).
        public var allowPlainPKCE: Bool
        /// SECURITY.md: at most 60 seconds.
        public var codeLifetime: TimeInterval = 60

        public init(issuer: String, defaultAudience: String, allowPlainPKCE: Bool) {
            self.issuer = issuer
            self.defaultAudience = defaultAudience
            self.allowPlainPKCE = allowPlainPKCE
        }
    }

    let configuration: Configuration
    let clients: any ClientRepository
    let grants: any GrantRepository
    let consents: any ConsentRepository
    let clock: any WardenClock

    public init(
        configuration: Configuration, clients: any ClientRepository, grants: any GrantRepository,
        consents: any ConsentRepository, clock: any WardenClock
    ) {
        self.configuration = configuration
        self.clients = clients
        self.grants = grants
        self.consents = consents
        self.clock = clock
    }

    /// Validates the request's parameters; failures say whether they may be redirected.
    public func validate(_ query: FormBody) async throws -> AuthorizationRequest {
        guard let clientID = query["client_id"] else { throw AuthorizationFailure.page(.invalidRequest("client_id is required")) }
        guard let client = try await clients.client(id: clientID) else {
            throw AuthorizationFailure.page(.invalidRequest("Unknown client"))
        }
        let redirectURI: String
        if let requested = query["redirect_uri"] {
            guard RedirectURIMatcher.match(requested, registered: client.redirectURIs) != nil else {
                throw AuthorizationFailure.page(.invalidRequest("redirect_uri is not registered for this client"))
            }
            // Not the registered string: the loopback rule matches any port, and the
            // response goes to the port the client asked for.
            redirectURI = requested
        } else {
            guard client.redirectURIs.count == 1 else {
                throw AuthorizationFailure.page(.invalidRequest("redirect_uri is required"))
            }
            redirectURI = client.redirectURIs[0]
        }
        let state = query["state"]
        func fail(_ error: OAuthError) -> AuthorizationFailure {
            .redirect(errorRedirect(to: redirectURI, error: error, state: state))
        }

        guard let responseType = query["response_type"] else { throw fail(.invalidRequest("response_type is required")) }
        guard responseType == "code" else {
            throw fail(OAuthError(.unsupportedResponseType, "Only response_type=code is supported"))
        }
        guard client.grantTypes.contains(.authorizationCode) else {
            throw fail(OAuthError(.unauthorizedClient, "This client is not registered for the authorization code grant"))
        }
        let scope: Scope
        do { scope = try Scope.granted(requested: query["scope"], registered: client.scope) } catch { throw fail(error) }

        let challenge = query["code_challenge"]
        var method: PKCE.Method?
        if let challengeValue = challenge {
            // RFC 7636 §4.3: no method means plain.
            guard let parsed = PKCE.Method(rawValue: query["code_challenge_method"] ?? "plain") else {
                throw fail(.invalidRequest("code_challenge_method must be S256"))
            }
            guard parsed == .s256 || configuration.allowPlainPKCE else {
                throw fail(.invalidRequest("code_challenge_method must be S256"))
            }
            guard PKCE.isValidChallenge(challengeValue, method: parsed) else {
                throw fail(.invalidRequest("code_challenge is malformed"))
            }
            method = parsed
        } else {
            guard query["code_challenge_method"] == nil else { throw fail(.invalidRequest("code_challenge is required")) }
            guard client.isConfidential && client.pkceOptional else {
                throw fail(.invalidRequest("PKCE is required: send code_challenge with code_challenge_method=S256"))
            }
        }
        let audience: [String]
        do {
            audience = try AudienceSelection.select(
                requested: query.values(of: "resource"), registered: client.audiences, defaultAudience: configuration.defaultAudience)
        } catch { throw fail(error) }

        return AuthorizationRequest(
            client: client, redirectURI: redirectURI, redirectURIExplicit: query["redirect_uri"] != nil, scope: scope,
            state: state, codeChallenge: challenge, codeChallengeMethod: method, audience: audience)
    }

    /// Whether the user must see the consent page: not for `--skip-consent` clients, nor
    /// when the user already allowed this client at least this scope.
    public func needsConsent(_ request: AuthorizationRequest, userID: String) async throws -> Bool {
        if request.client.skipConsent { return false }
        guard let remembered = try await consents.consentedScope(userID: userID, clientID: request.client.id) else { return true }
        return !request.scope.isSubset(of: remembered)
    }

    /// The user allowed the request: remember the consent, issue a code, and return the redirect.
    public func approve(_ request: AuthorizationRequest, userID: String, rememberConsent: Bool) async throws -> String {
        let now = clock.now()
        if rememberConsent {
            try await consents.rememberConsent(userID: userID, clientID: request.client.id, scope: request.scope, at: now)
        }
        let code = OpaqueToken.generate()
        let expiresAt = now.addingTimeInterval(configuration.codeLifetime)
        let grant = GrantRecord(
            id: RandomToken.timeOrderedIdentifier(at: now), clientID: request.client.id, userID: userID, scope: request.scope,
            audience: request.audience, createdAt: now, expiresAt: expiresAt)
        try await grants.insert(
            grant: grant,
            code: AuthorizationCodeRecord(
                digest: code.digest, grant: grant, redirectURI: request.redirectURI, redirectURIExplicit: request.redirectURIExplicit,
                codeChallenge: request.codeChallenge, codeChallengeMethod: request.codeChallengeMethod, expiresAt: expiresAt))
        var parameters = [("code", code.value)]
        if let state = request.state { parameters.append(("state", state)) }
        parameters.append(("iss", configuration.issuer))
        return Self.redirect(to: request.redirectURI, parameters: parameters)
    }

    /// The user said no (RFC 6749 §4.1.2.1 `access_denied`).
    public func deny(_ request: AuthorizationRequest) -> String {
        errorRedirect(to: request.redirectURI, error: OAuthError(.accessDenied, "The user denied the request"), state: request.state)
    }

    func errorRedirect(to uri: String, error: OAuthError, state: String?) -> String {
        var parameters = error.responseFields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let state { parameters.append(("state", state)) }
        parameters.append(("iss", configuration.issuer))
        return Self.redirect(to: uri, parameters: parameters)
    }

    /// `uri` with `parameters` added to its query (RFC 6749 §4.1.2: keeping any query it has).
    static func redirect(to uri: String, parameters: [(String, String)]) -> String {
        let encoded = parameters.map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&")
        return uri + (uri.contains("?") ? "&" : "?") + encoded
    }

    static func formEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    /// RFC 3986 unreserved characters, ASCII only.
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
