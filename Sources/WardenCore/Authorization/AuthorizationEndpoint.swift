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
        /// RFC 9126 §5: every request must have been pushed first.
        public var requirePushedRequests = false

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
    let idTokens: (any OpenIDTokenSigner)?
    let pushedRequests: (any ProofOfPossessionRepository)?
    let clock: any WardenClock

    /// Without `pushedRequests`, `request_uri` is not supported.
    public init(
        configuration: Configuration, clients: any ClientRepository, grants: any GrantRepository,
        consents: any ConsentRepository, idTokens: (any OpenIDTokenSigner)? = nil,
        pushedRequests: (any ProofOfPossessionRepository)? = nil, clock: any WardenClock
    ) {
        self.pushedRequests = pushedRequests
        self.configuration = configuration
        self.clients = clients
        self.grants = grants
        self.consents = consents
        self.idTokens = idTokens
        self.clock = clock
    }

    /// Validates the request's parameters; failures say whether they may be redirected.
    /// A pushed request's `request_uri` (RFC 9126 §4) stands for the parameters pushed.
    public func validate(_ query: FormBody) async throws -> AuthorizationRequest {
        if let requestURI = query["request_uri"], requestURI.hasPrefix(PushedAuthorizationEndpoint.requestURIPrefix), let pushedRequests {
            return try await validatePushed(requestURI: requestURI, clientID: query["client_id"], store: pushedRequests)
        }
        return try await validate(query, pushed: false)
    }

    /// RFC 9126 §4: the pushed parameters, if the `request_uri` is live and the client's;
    /// else the error page, since nothing says where a redirect could safely go.
    func validatePushed(requestURI: String, clientID: String?, store: any ProofOfPossessionRepository) async throws -> AuthorizationRequest {
        let digest = OpaqueToken(requestURI).digest
        guard let pushed = try await store.pushedRequest(digest: digest, now: clock.now()), pushed.clientID == clientID,
            let parameters = try? FormBody(parsing: Array(pushed.parameters.utf8))
        else { throw AuthorizationFailure.page(.invalidRequest("request_uri is unknown, already used or expired")) }
        do {
            var request = try await validate(parameters, pushed: true)
            request.pushedRequestDigest = digest
            return request
        } catch AuthorizationFailure.redirect(let response) {
            _ = try await store.consumePushedRequest(digest: digest)
            throw AuthorizationFailure.redirect(response)
        }
    }

    /// Validates parameters sent to `/authorize` (`pushed`: false) or pushed to `/par`.
    public func validate(_ query: FormBody, pushed: Bool) async throws -> AuthorizationRequest {
        guard let clientID = query["client_id"] else { throw AuthorizationFailure.page(.invalidRequest("client_id is required")) }
        guard let client = try await clients.client(id: clientID) else {
            throw AuthorizationFailure.page(.invalidRequest("Unknown client"))
        }
        let redirectURI: String
        if let requested = query["redirect_uri"] {
            // A metadata document's URIs are matched exactly (DEVICES-AND-REGISTRATION.md), loopback ports too.
            let matched = client.fromMetadataDocument
                ? client.redirectURIs.contains(requested) : RedirectURIMatcher.match(requested, registered: client.redirectURIs) != nil
            guard matched else {
                throw AuthorizationFailure.page(OAuthError(.invalidRedirectURI, "redirect_uri is not registered for this client"))
            }
            // Not the registered string: the loopback rule matches any port, and the
            // response goes to the port the client asked for.
            redirectURI = requested
        } else {
            guard client.redirectURIs.count == 1 else {
                throw AuthorizationFailure.page(OAuthError(.invalidRedirectURI, "redirect_uri is required"))
            }
            redirectURI = client.redirectURIs[0]
        }
        let state = query["state"]
        // An unknown response mode's error goes back the default way, in the query.
        var mode = ResponseMode.query
        func fail(_ error: OAuthError) -> AuthorizationFailure {
            .redirect(errorResponse(to: redirectURI, error: error, state: state, mode: mode))
        }
        if let requested = query["response_mode"] {
            guard let parsed = ResponseMode(rawValue: requested) else {
                throw fail(.invalidRequest("response_mode must be query or form_post"))
            }
            mode = parsed
        }
        if query["request"] != nil { throw fail(OAuthError(.requestNotSupported, "Request objects are not supported")) }
        if query["request_uri"] != nil { throw fail(OAuthError(.requestURINotSupported, "request_uri is not supported")) }
        if !pushed, configuration.requirePushedRequests || client.requirePushedAuthorizationRequests {
            throw fail(.invalidRequest("Push the authorization request to the pushed_authorization_request_endpoint first"))
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

        var request = AuthorizationRequest(
            client: client, redirectURI: redirectURI, redirectURIExplicit: query["redirect_uri"] != nil, scope: scope,
            state: state, codeChallenge: challenge, codeChallengeMethod: method, audience: audience)
        request.responseMode = mode
        if let key = query["dpop_jkt"] {
            // RFC 9449 §10: a SHA-256 thumbprint is 43 base64url characters.
            guard key.utf8.count == 43, Base64URL.decodeCanonical(key) != nil else { throw fail(.invalidRequest("dpop_jkt is not a JWK thumbprint")) }
            request.dpopKey = key
        }
        do { try await readOpenIDParameters(query, into: &request) } catch { throw fail(error) }
        return request
    }

    /// OpenID Connect Core §3.1.2.1's parameters: `nonce`, `prompt`, `max_age`,
    /// `login_hint`, `id_token_hint`, `claims`. (`display`, `ui_locales`,
    /// `claims_locales` and `acr_values` are accepted and not acted on.)
    func readOpenIDParameters(_ query: FormBody, into request: inout AuthorizationRequest) async throws(OAuthError) {
        if let nonce = query["nonce"] {
            guard nonce.utf8.count <= 255, nonce.unicodeScalars.allSatisfy({ (0x20...0x7E).contains($0.value) }) else {
                throw .invalidRequest("nonce must be at most 255 printable ASCII characters")
            }
            request.nonce = nonce
        }
        if let prompt = query["prompt"] {
            var values = Set<Prompt>()
            for value in prompt.split(separator: " ") {
                guard let parsed = Prompt(rawValue: String(value)) else { throw .invalidRequest("prompt has an unknown value") }
                values.insert(parsed)
            }
            guard !values.contains(.none) || values.count == 1 else {
                throw .invalidRequest("prompt=none cannot be combined with another value")
            }
            request.prompt = values
        }
        if let maxAge = query["max_age"] {
            guard let seconds = Int(maxAge), seconds >= 0, maxAge.utf8.allSatisfy({ (48...57).contains($0) }) else {
                throw .invalidRequest("max_age must be a number of seconds")
            }
            request.maxAge = seconds
        }
        request.loginHint = query["login_hint"]
        if let claims = query["claims"] {
            _ = try ClaimsRequest(json: claims)
            request.claimsRequest = claims
        }
        if let hint = query["id_token_hint"] {
            guard let verified = await idTokens?.verifyIDTokenHint(hint) else {
                throw .invalidRequest("id_token_hint is not an ID token of this server")
            }
            request.idTokenHint = verified
        }
    }

    /// What the browser must see next, given who is signed in: the signed-in user's id
    /// and session (nil: nobody), and whether they signed in just now for this request
    /// (then `prompt=login` and `max_age` are satisfied).
    public func nextStep(
        _ request: AuthorizationRequest, userID: String?, session: BrowserSession?, justSignedIn: Bool = false
    ) async throws -> AuthorizationStep {
        var mustSignIn = userID == nil
        if !justSignedIn {
            if request.prompt.contains(.login) || request.prompt.contains(.selectAccount) { mustSignIn = true }
            if let maxAge = request.maxAge, let authenticatedAt = session?.authenticatedAt,
                maxAge == 0 || clock.now().timeIntervalSince(authenticatedAt) > TimeInterval(maxAge)
            {
                mustSignIn = true
            }
            // Core §3.1.2.1: the hint names who the client expects; someone else must sign in.
            if let hint = request.idTokenHint, let userID, hint.subject != userID { mustSignIn = true }
        }
        guard let userID, !mustSignIn else {
            guard request.prompt.contains(.none) else { return .signIn }
            try await consumePushedRequest(of: request)
            return .fail(errorResponse(for: request, error: OAuthError(.loginRequired, "The user must sign in")))
        }
        let consentNeeded = try await needsConsent(request, userID: userID)
        if request.prompt.contains(.none) {
            guard !consentNeeded else {
                try await consumePushedRequest(of: request)
                return .fail(errorResponse(for: request, error: OAuthError(.consentRequired, "The user must consent")))
            }
            return .issueCode
        }
        return consentNeeded || request.prompt.contains(.consent) ? .consent : .issueCode
    }

    /// Whether the user must see the consent page: not for `--skip-consent` clients, nor
    /// when the user already allowed this client at least this scope and the claims asked for.
    public func needsConsent(_ request: AuthorizationRequest, userID: String) async throws -> Bool {
        if request.client.skipConsent { return false }
        // DEVICES-AND-REGISTRATION.md: a metadata document's client is asked about every time.
        if request.client.fromMetadataDocument { return true }
        guard let remembered = try await consents.consentedScope(userID: userID, clientID: request.client.id) else { return true }
        return !request.consentScope.isSubset(of: remembered)
    }

    /// The user allowed the request: remember the consent, issue a code, and return the
    /// response. An OpenID request's grant keeps the session's `sid` and `auth_time`.
    public func approve(
        _ request: AuthorizationRequest, userID: String, session: BrowserSession? = nil, rememberConsent: Bool
    ) async throws -> AuthorizationResponse {
        // A pushed request gives one code (RFC 9126 §4): the first to finish it wins.
        guard try await consumePushedRequest(of: request) else {
            throw AuthorizationFailure.page(.invalidRequest("request_uri is unknown, already used or expired"))
        }
        let now = clock.now()
        if rememberConsent {
            try await consents.rememberConsent(userID: userID, clientID: request.client.id, scope: request.consentScope, at: now)
        }
        let code = OpaqueToken.generate()
        let expiresAt = now.addingTimeInterval(configuration.codeLifetime)
        let openID = request.isOpenID
        let grant = GrantRecord(
            id: RandomToken.timeOrderedIdentifier(at: now), clientID: request.client.id, userID: userID, scope: request.scope,
            audience: request.audience, createdAt: now, expiresAt: expiresAt, sessionID: openID ? session?.sid : nil,
            authTime: openID ? session?.authenticatedAt : nil, claimsRequest: openID ? request.claimsRequest : nil,
            dpopKey: request.dpopKey)
        try await grants.insert(
            grant: grant,
            code: AuthorizationCodeRecord(
                digest: code.digest, grant: grant, redirectURI: request.redirectURI, redirectURIExplicit: request.redirectURIExplicit,
                codeChallenge: request.codeChallenge, codeChallengeMethod: request.codeChallengeMethod, expiresAt: expiresAt,
                nonce: openID ? request.nonce : nil))
        var parameters = [("code", code.value)]
        if let state = request.state { parameters.append(("state", state)) }
        parameters.append(("iss", configuration.issuer))
        return AuthorizationResponse(redirectURI: request.redirectURI, parameters: parameters, mode: request.responseMode)
    }

    /// The user said no (RFC 6749 §4.1.2.1 `access_denied`).
    public func deny(_ request: AuthorizationRequest) async throws -> AuthorizationResponse {
        try await consumePushedRequest(of: request)
        return errorResponse(for: request, error: OAuthError(.accessDenied, "The user denied the request"))
    }

    /// Ends the pushed request behind `request`, if any; false when another step ended it first.
    @discardableResult
    func consumePushedRequest(of request: AuthorizationRequest) async throws -> Bool {
        guard let digest = request.pushedRequestDigest, let pushedRequests else { return true }
        return try await pushedRequests.consumePushedRequest(digest: digest)
    }

    func errorResponse(for request: AuthorizationRequest, error: OAuthError) -> AuthorizationResponse {
        errorResponse(to: request.redirectURI, error: error, state: request.state, mode: request.responseMode)
    }

    func errorResponse(to uri: String, error: OAuthError, state: String?, mode: ResponseMode) -> AuthorizationResponse {
        var parameters = error.responseFields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let state { parameters.append(("state", state)) }
        parameters.append(("iss", configuration.issuer))
        return AuthorizationResponse(redirectURI: uri, parameters: parameters, mode: mode)
    }
}
