import Foundation

/// What an operator asks for when registering a client, validated into a `Client`.
public struct ClientRegistration: Sendable {
    public var name: String
    public var grantTypes: [GrantType]
    public var redirectURIs: [String]
    public var scope: String
    public var audiences: [String]
    public var authMethod: ClientAuthMethod?
    public var skipConsent: Bool
    public var pkceOptional: Bool
    public var idTokenSigningAlgorithm: SigningAlgorithm = .rs256
    public var postLogoutRedirectURIs: [String] = []
    public var backchannelLogoutURI: String?
    /// `private_key_jwt`: the public keys (a JWK Set's JSON text) or where to fetch them.
    public var jwks: String?
    public var jwksURI: String?
    /// Accept `http` key URIs (development only).
    public var allowHTTPJWKSURI = false
    public var dpopBoundAccessTokens = false
    public var requirePushedAuthorizationRequests = false
    /// RFC 8693: what the client may get by exchange (`--exchange-audience`).
    public var exchangeAudiences: [String] = []

    public init(
        name: String, grantTypes: [GrantType], redirectURIs: [String] = [], scope: String = "",
        audiences: [String] = [], authMethod: ClientAuthMethod? = nil, skipConsent: Bool = false,
        pkceOptional: Bool = false
    ) {
        self.name = name
        self.grantTypes = grantTypes
        self.redirectURIs = redirectURIs
        self.scope = scope
        self.audiences = audiences
        self.authMethod = authMethod
        self.skipConsent = skipConsent
        self.pkceOptional = pkceOptional
    }

    /// A registration error, phrased for an operator.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Checks the registration and makes the client, with its secret in plain text
    /// (to be shown once) when the client is confidential.
    public func makeClient(now: Date) throws(Invalid) -> (client: Client, secret: ClientSecret?) {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { throw Invalid(description: "--name must not be empty") }
        let grants = grantTypes.isEmpty ? [GrantType.clientCredentials] : grantTypes
        for grant in grants where !GrantType.registrable.contains(grant) {
            throw Invalid(description: "unknown grant type '\(grant.rawValue)'")
        }
        let method = authMethod ?? .clientSecretBasic
        if method == .none, grants.contains(.clientCredentials) {
            throw Invalid(description: "a public client (auth method none) cannot use client_credentials")
        }
        if grants.contains(.tokenExchange) {
            guard method != .none else { throw Invalid(description: "a public client (auth method none) cannot use token exchange") }
            guard !exchangeAudiences.isEmpty else { throw Invalid(description: "token exchange needs at least one --exchange-audience") }
        } else if !exchangeAudiences.isEmpty {
            throw Invalid(description: "--exchange-audience is for clients with the token-exchange grant")
        }
        for audience in exchangeAudiences where !AudienceSelection.isAbsoluteURIWithoutFragment(audience) {
            throw Invalid(description: "exchange audience '\(audience)' must be an absolute URI without a fragment")
        }
        if grants.contains(.authorizationCode), redirectURIs.isEmpty {
            throw Invalid(description: "authorization_code needs at least one --redirect-uri")
        }
        for uri in redirectURIs {
            if let problem = RedirectURIPolicy.problem(with: uri) { throw Invalid(description: problem) }
        }
        for audience in audiences where !AudienceSelection.isAbsoluteURIWithoutFragment(audience) {
            throw Invalid(description: "audience '\(audience)' must be an absolute URI without a fragment")
        }
        let parsedScope: Scope
        do { parsedScope = try Scope(parsing: scope) } catch {
            throw Invalid(description: "scope '\(scope)' contains a character RFC 6749 does not allow")
        }
        if pkceOptional, method == .none {
            throw Invalid(description: "--pkce-optional is for confidential clients only")
        }
        for uri in postLogoutRedirectURIs {
            if let problem = RedirectURIPolicy.problem(with: uri) { throw Invalid(description: "post-logout " + problem) }
        }
        if let uri = backchannelLogoutURI, let problem = RedirectURIPolicy.backchannelProblem(with: uri) {
            throw Invalid(description: problem)
        }
        let keys = try ClientRegistration.checkKeys(jwks: jwks, jwksURI: jwksURI, method: method, allowHTTP: allowHTTPJWKSURI)
        let secret = method.usesSecret ? ClientSecret.generate() : nil
        var client = Client(
            id: RandomToken.identifier(byteCount: 16), name: name, secretDigest: secret?.digest, authMethod: method,
            grantTypes: grants.uniqued(), redirectURIs: redirectURIs.uniqued(), scope: parsedScope,
            audiences: audiences.uniqued(), skipConsent: skipConsent, pkceOptional: pkceOptional, createdAt: now,
            idTokenSigningAlgorithm: idTokenSigningAlgorithm, postLogoutRedirectURIs: postLogoutRedirectURIs.uniqued(),
            backchannelLogoutURI: backchannelLogoutURI
        )
        client.jwks = keys.jwks
        client.jwksURI = keys.jwksURI
        client.dpopBoundAccessTokens = dpopBoundAccessTokens
        client.requirePushedAuthorizationRequests = requirePushedAuthorizationRequests
        client.exchangeAudiences = exchangeAudiences.uniqued()
        return (client, secret)
    }

    /// A `private_key_jwt` client's keys: exactly one of a JWK Set of public keys (stored
    /// as compact JSON) and an `https` URI; other methods have neither.
    public static func checkKeys(
        jwks: String?, jwksURI: String?, method: ClientAuthMethod, allowHTTP: Bool
    ) throws(Invalid) -> (jwks: String?, jwksURI: String?) {
        guard method == .privateKeyJWT else {
            guard jwks == nil, jwksURI == nil else { throw Invalid(description: "--jwks and --jwks-uri are for private_key_jwt clients only") }
            return (nil, nil)
        }
        switch (jwks, jwksURI) {
        case (let text?, nil):
            do { _ = try ClientJWKS(json: Array(text.utf8)) } catch { throw Invalid(description: "--jwks: \(error)") }
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)),
                let compact = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            else { throw Invalid(description: "--jwks is not JSON") }
            return (String(decoding: compact, as: UTF8.self), nil)
        case (nil, let uri?):
            guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased(),
                components.host?.isEmpty == false, components.fragment == nil
            else { throw Invalid(description: "--jwks-uri '\(uri)' is not an absolute URL") }
            guard scheme == "https" || (scheme == "http" && allowHTTP) else {
                throw Invalid(description: "--jwks-uri must be https (allow_http_jwks_uri permits http, for development)")
            }
            return (nil, uri)
        case (nil, nil):
            throw Invalid(description: "a private_key_jwt client needs --jwks FILE or --jwks-uri URL")
        case (.some, .some):
            throw Invalid(description: "give --jwks or --jwks-uri, not both")
        }
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
