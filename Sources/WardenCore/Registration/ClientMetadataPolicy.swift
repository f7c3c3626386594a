import Foundation

/// What a client metadata document (RFC 7591 §2) may ask for, when anyone may be sending
/// it: over `/register`, or as a Client ID Metadata Document. Stricter than the CLI:
/// scopes from a configured set, no audiences of its own (the default audience), a
/// private-use redirect scheme for public clients only, only the grants and methods given.
public struct ClientMetadataPolicy: Sendable {
    /// The scopes a client may ask for (`registration_scopes`); also the default.
    public var scopes: Scope
    /// The ID token algorithms a client may choose: those the server keeps keys for.
    public var idTokenAlgorithms: [SigningAlgorithm]
    public var allowHTTPJWKSURI: Bool
    public var grantTypes: [GrantType]
    public var authMethods: [ClientAuthMethod]
    /// The method of a document that names none.
    public var defaultAuthMethod: ClientAuthMethod
    /// Whether a document may name a `backchannel_logout_uri` (https only): the server
    /// posts to it, so a stranger's would be a way into the server's own network.
    public var allowsBackchannelLogout: Bool

    /// Dynamic registration's: every method; the grants but token exchange, whose
    /// audiences are the operator's to give.
    public static func registration(scopes: Scope, idTokenAlgorithms: [SigningAlgorithm], allowHTTPJWKSURI: Bool) -> Self {
        Self(
            scopes: scopes, idTokenAlgorithms: idTokenAlgorithms, allowHTTPJWKSURI: allowHTTPJWKSURI,
            grantTypes: [.authorizationCode, .refreshToken, .clientCredentials, .deviceCode], authMethods: ClientAuthMethod.allCases,
            defaultAuthMethod: .clientSecretBasic, allowsBackchannelLogout: true)
    }

    /// A Client ID Metadata Document's: no shared secret can be had from a public URL, so
    /// `none` (with PKCE) or `private_key_jwt`; browser-flow grants only.
    public static func metadataDocument(scopes: Scope, idTokenAlgorithms: [SigningAlgorithm], allowHTTPJWKSURI: Bool) -> Self {
        Self(
            scopes: scopes, idTokenAlgorithms: idTokenAlgorithms, allowHTTPJWKSURI: allowHTTPJWKSURI,
            grantTypes: [.authorizationCode, .refreshToken], authMethods: [.none, .privateKeyJWT], defaultAuthMethod: .none,
            allowsBackchannelLogout: false)
    }

    public init(
        scopes: Scope, idTokenAlgorithms: [SigningAlgorithm], allowHTTPJWKSURI: Bool, grantTypes: [GrantType],
        authMethods: [ClientAuthMethod], defaultAuthMethod: ClientAuthMethod, allowsBackchannelLogout: Bool
    ) {
        self.allowsBackchannelLogout = allowsBackchannelLogout
        self.scopes = scopes
        self.idTokenAlgorithms = idTokenAlgorithms
        self.allowHTTPJWKSURI = allowHTTPJWKSURI
        self.grantTypes = grantTypes
        self.authMethods = authMethods
        self.defaultAuthMethod = defaultAuthMethod
    }

    /// The client a document describes, with a fresh id and (for the secret methods)
    /// secret; `name` in place of its `client_name`.
    public func makeClient(_ document: ClientMetadataDocument, name: String? = nil, now: Date) throws(OAuthError) -> (Client, ClientSecret?) {
        if let types = document.responseTypes, types != ["code"] {
            throw ClientMetadataDocument.invalid("response_types must be [\"code\"]")
        }
        let grants = (document.grantTypes ?? ["authorization_code"]).map(GrantType.init(rawValue:))
        guard !grants.isEmpty else { throw ClientMetadataDocument.invalid("grant_types must not be empty") }
        for grant in grants where !grantTypes.contains(grant) {
            throw ClientMetadataDocument.invalid("grant type \(grant.rawValue) cannot be registered here")
        }
        guard let method = document.tokenEndpointAuthMethod.map(ClientAuthMethod.init(rawValue:)) ?? defaultAuthMethod,
            authMethods.contains(method)
        else {
            throw ClientMetadataDocument.invalid(
                "token_endpoint_auth_method must be one of " + authMethods.map(\.rawValue).joined(separator: ", "))
        }
        let redirectURIs = document.redirectURIs ?? []
        for uri in redirectURIs {
            if let problem = RedirectURIPolicy.problem(with: uri) { throw OAuthError(.invalidRedirectURI, problem) }
            // RFC 8252 §7.1: private-use schemes are for native apps, which are public clients.
            let scheme = URLComponents(string: uri)?.scheme?.lowercased() ?? ""
            if method != .none, scheme != "https", scheme != "http" {
                throw OAuthError(.invalidRedirectURI, "redirect URI '\(uri)': a private-use scheme is for public clients only")
            }
        }
        let scope: Scope
        do { scope = try document.scope.map(Scope.init(parsing:)) ?? scopes } catch {
            throw ClientMetadataDocument.invalid("scope contains a character RFC 6749 does not allow")
        }
        for token in scope.tokens where !scopes.tokens.contains(token) {
            throw ClientMetadataDocument.invalid("scope \(token) cannot be registered here")
        }
        var algorithm = SigningAlgorithm.rs256
        if let name = document.idTokenSignedResponseAlg {
            guard let chosen = SigningAlgorithm(rawValue: name), idTokenAlgorithms.contains(chosen) else {
                throw ClientMetadataDocument.invalid("id_token_signed_response_alg must be one of "
                    + idTokenAlgorithms.map(\.rawValue).joined(separator: ", "))
            }
            algorithm = chosen
        }
        if method == .privateKeyJWT, document.jwks == nil, document.jwksURI == nil {
            throw ClientMetadataDocument.invalid("private_key_jwt needs jwks or jwks_uri")
        } else if method != .privateKeyJWT, document.jwks != nil || document.jwksURI != nil {
            throw ClientMetadataDocument.invalid("jwks and jwks_uri are for private_key_jwt clients")
        }
        if let uri = document.backchannelLogoutURI {
            guard allowsBackchannelLogout else { throw ClientMetadataDocument.invalid("backchannel_logout_uri cannot be registered here") }
            guard uri.lowercased().hasPrefix("https://") else { throw ClientMetadataDocument.invalid("backchannel_logout_uri must be https") }
        }
        for (name, uri) in [("client_uri", document.clientURI), ("logo_uri", document.logoURI)] {
            guard let uri else { continue }
            guard let components = URLComponents(string: uri), ["https", "http"].contains(components.scheme?.lowercased() ?? ""),
                components.host?.isEmpty == false
            else { throw ClientMetadataDocument.invalid("\(name) must be an http(s) URL") }
        }
        var registration = ClientRegistration(
            name: name ?? Self.name(document), grantTypes: grants, redirectURIs: redirectURIs, scope: scope.description, authMethod: method)
        registration.idTokenSigningAlgorithm = algorithm
        registration.postLogoutRedirectURIs = document.postLogoutRedirectURIs ?? []
        registration.backchannelLogoutURI = document.backchannelLogoutURI
        registration.jwks = document.jwks
        registration.jwksURI = document.jwksURI
        registration.allowHTTPJWKSURI = allowHTTPJWKSURI
        registration.dpopBoundAccessTokens = document.dpopBoundAccessTokens ?? false
        var made: (client: Client, secret: ClientSecret?)
        do { made = try registration.makeClient(now: now) } catch {
            // The CLI's wording names its options; the rule is the same.
            throw ClientMetadataDocument.invalid(error.description.replacingOccurrences(of: "--", with: ""))
        }
        made.client.registeredMetadata = Self.descriptiveMetadata(document)
        return (made.client, made.secret)
    }

    static func name(_ document: ClientMetadataDocument) -> String {
        let name = (document.clientName ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        return name.isEmpty ? "Unnamed application" : String(name.prefix(200))
    }

    /// The members kept only to be shown back: a JSON object's text, or nil when there are none.
    static func descriptiveMetadata(_ document: ClientMetadataDocument) -> String? {
        var members: [String: Any] = [:]
        members["client_uri"] = document.clientURI
        members["logo_uri"] = document.logoURI
        members["contacts"] = document.contacts
        members["software_id"] = document.softwareID
        members["software_version"] = document.softwareVersion
        guard !members.isEmpty, let data = try? JSONSerialization.data(withJSONObject: members, options: [.sortedKeys]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
