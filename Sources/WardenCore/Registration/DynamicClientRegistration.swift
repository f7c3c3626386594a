import Foundation

/// RFC 7591 Dynamic Client Registration and RFC 7592 management, as
/// DEVICES-AND-REGISTRATION.md has them: a client metadata document becomes a client
/// (under stricter rules than the CLI's, since anyone may be sending it), and the
/// registration access token it comes back with reads, replaces or deletes that client
/// only, rotating on every replacement. Clients made by the CLI have no such token, so
/// `/register/<id>` cannot touch them.
public struct DynamicClientRegistration: Sendable {
    /// Config `registration`.
    public enum Mode: String, Sendable, CaseIterable {
        /// No `/register` at all.
        case off
        /// An initial access token (`warden registration-tokens create`) is needed.
        case token
        /// Anyone may register (development).
        case open
    }

    public struct Configuration: Sendable {
        public var issuer: String
        public var mode: Mode
        /// The scopes a registered client may ask for (`registration_scopes`); also the default.
        public var scopes: Scope
        /// The ID token algorithms a client may choose: those the server keeps keys for.
        public var idTokenAlgorithms: [SigningAlgorithm]
        public var allowHTTPJWKSURI: Bool

        public init(issuer: String, mode: Mode, scopes: Scope, idTokenAlgorithms: [SigningAlgorithm], allowHTTPJWKSURI: Bool = false) {
            self.issuer = issuer
            self.mode = mode
            self.scopes = scopes
            self.idTokenAlgorithms = idTokenAlgorithms
            self.allowHTTPJWKSURI = allowHTTPJWKSURI
        }
    }

    /// The grant types a document may ask for. Token exchange is not among them: its
    /// audiences are the operator's to give.
    static let registrableGrants: [GrantType] = [.authorizationCode, .refreshToken, .clientCredentials, .deviceCode]

    public let configuration: Configuration
    let clients: any ClientRepository
    let initialTokens: any InitialAccessTokenRepository
    /// Registrations and failed management requests count per address (the sign-in budget).
    let perAddress: any FailureCounting
    let clock: any WardenClock

    public init(
        configuration: Configuration, clients: any ClientRepository, initialTokens: any InitialAccessTokenRepository,
        perAddress: any FailureCounting, clock: any WardenClock
    ) {
        self.configuration = configuration
        self.clients = clients
        self.initialTokens = initialTokens
        self.perAddress = perAddress
        self.clock = clock
    }

    /// `POST /register`: the new client, its secret (confidential clients) and its registration access token.
    public func register(_ body: some Collection<UInt8>, authorization: String?, address: String) async throws -> ClientInformation {
        let now = clock.now()
        if let wait = try await perAddress.admit(address, now: now) { throw OAuthError.rateLimited(retryAfter: wait) }
        let initialToken = configuration.mode == .token ? try Self.bearerToken(authorization) : nil
        let document = try ClientMetadataDocument(json: body)
        var (client, secret) = try makeClient(document, now: now)
        if let initialToken, !(try await initialTokens.spendInitialAccessToken(digest: OpaqueToken(initialToken).digest, at: now)) {
            throw Self.invalidToken("The initial access token is invalid, expired, revoked or used up")
        }
        let registrationToken = OpaqueToken.generate()
        client.registrationAccessTokenDigest = registrationToken.digest
        try await clients.insert(client)
        return ClientInformation(client: client, secret: secret, registrationAccessToken: registrationToken.value)
    }

    /// `GET /register/<id>`: the client as registered. Only the token's digest is kept, so
    /// the response cannot repeat it; the client keeps the one it holds.
    public func read(clientID: String, authorization: String?, address: String) async throws -> ClientInformation {
        ClientInformation(client: try await authorized(clientID, authorization, address: address).client)
    }

    /// `PUT /register/<id>` (RFC 7592 §2.2): replaces everything registered with the
    /// document, keeps the id and a still-confidential client's secret, and rotates the
    /// registration access token (the presented one stops working).
    public func update(clientID: String, _ body: some Collection<UInt8>, authorization: String?, address: String) async throws -> ClientInformation {
        let (current, presented) = try await authorized(clientID, authorization, address: address)
        let document = try ClientMetadataDocument(json: body)
        guard document.clientID == clientID else { throw ClientMetadataDocument.invalid("client_id must be the client's id") }
        if let secret = document.clientSecret {
            guard let digest = current.secretDigest, digest.matches(ClientSecret(secret)) else {
                throw ClientMetadataDocument.invalid("client_secret does not match the client's secret")
            }
        }
        var (client, secret) = try makeClient(document, now: current.createdAt)
        client.id = current.id
        if client.authMethod.usesSecret, let digest = current.secretDigest {
            (client.secretDigest, secret) = (digest, nil)
        }
        let registrationToken = OpaqueToken.generate()
        client.registrationAccessTokenDigest = registrationToken.digest
        guard try await clients.replaceRegisteredClient(client, presented: presented) else {
            throw Self.invalidToken("The registration access token is invalid")
        }
        return ClientInformation(client: client, secret: secret, registrationAccessToken: registrationToken.value)
    }

    /// `DELETE /register/<id>`: the client and, by cascade, its grants and tokens.
    public func delete(clientID: String, authorization: String?, address: String) async throws {
        let (_, presented) = try await authorized(clientID, authorization, address: address)
        guard try await clients.deleteRegisteredClient(id: clientID, presented: presented) else {
            throw Self.invalidToken("The registration access token is invalid")
        }
    }

    // MARK: - Rules

    /// The client a document describes, by RFC 7591 and the page's rules, with a fresh id
    /// and (for the secret methods) secret.
    func makeClient(_ document: ClientMetadataDocument, now: Date) throws(OAuthError) -> (Client, ClientSecret?) {
        if let types = document.responseTypes, types != ["code"] {
            throw ClientMetadataDocument.invalid("response_types must be [\"code\"]")
        }
        let grants = (document.grantTypes ?? ["authorization_code"]).map(GrantType.init(rawValue:))
        guard !grants.isEmpty else { throw ClientMetadataDocument.invalid("grant_types must not be empty") }
        for grant in grants where !Self.registrableGrants.contains(grant) {
            throw ClientMetadataDocument.invalid("grant type \(grant.rawValue) cannot be registered here")
        }
        guard let method = ClientAuthMethod(rawValue: document.tokenEndpointAuthMethod ?? "client_secret_basic") else {
            throw ClientMetadataDocument.invalid("token_endpoint_auth_method is not one this server supports")
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
        do { scope = try document.scope.map(Scope.init(parsing:)) ?? configuration.scopes } catch {
            throw ClientMetadataDocument.invalid("scope contains a character RFC 6749 does not allow")
        }
        for token in scope.tokens where !configuration.scopes.tokens.contains(token) {
            throw ClientMetadataDocument.invalid("scope \(token) cannot be registered here")
        }
        var algorithm = SigningAlgorithm.rs256
        if let name = document.idTokenSignedResponseAlg {
            guard let chosen = SigningAlgorithm(rawValue: name), configuration.idTokenAlgorithms.contains(chosen) else {
                throw ClientMetadataDocument.invalid("id_token_signed_response_alg must be one of "
                    + configuration.idTokenAlgorithms.map(\.rawValue).joined(separator: ", "))
            }
            algorithm = chosen
        }
        if method == .privateKeyJWT, document.jwks == nil, document.jwksURI == nil {
            throw ClientMetadataDocument.invalid("private_key_jwt needs jwks or jwks_uri")
        } else if method != .privateKeyJWT, document.jwks != nil || document.jwksURI != nil {
            throw ClientMetadataDocument.invalid("jwks and jwks_uri are for private_key_jwt clients")
        }
        for (name, uri) in [("client_uri", document.clientURI), ("logo_uri", document.logoURI)] {
            guard let uri else { continue }
            guard let components = URLComponents(string: uri), ["https", "http"].contains(components.scheme?.lowercased() ?? ""),
                components.host?.isEmpty == false
            else { throw ClientMetadataDocument.invalid("\(name) must be an http(s) URL") }
        }
        var registration = ClientRegistration(
            name: Self.name(document), grantTypes: grants, redirectURIs: redirectURIs, scope: scope.description, authMethod: method)
        registration.idTokenSigningAlgorithm = algorithm
        registration.postLogoutRedirectURIs = document.postLogoutRedirectURIs ?? []
        registration.backchannelLogoutURI = document.backchannelLogoutURI
        registration.jwks = document.jwks
        registration.jwksURI = document.jwksURI
        registration.allowHTTPJWKSURI = configuration.allowHTTPJWKSURI
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

    /// The client `clientID` when `authorization` carries its registration access token;
    /// with the token's digest. Anything else is the same 401.
    func authorized(_ clientID: String, _ authorization: String?, address: String) async throws -> (client: Client, presented: [UInt8]) {
        let now = clock.now()
        if let wait = try await perAddress.admit(address, now: now) { throw OAuthError.rateLimited(retryAfter: wait) }
        let presented = OpaqueToken(try Self.bearerToken(authorization)).digest
        guard let client = try await clients.client(id: clientID), let stored = client.registrationAccessTokenDigest,
            ConstantTime.equals(stored, presented)
        else { throw Self.invalidToken("The registration access token is invalid") }
        try await perAddress.forgive(address, admittedAt: now)
        return (client, presented)
    }

    /// The token of an `Authorization: Bearer` header (RFC 6750 §2.1).
    static func bearerToken(_ authorization: String?) throws(OAuthError) -> String {
        let parts = authorization?.split(separator: " ", omittingEmptySubsequences: true) ?? []
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw invalidToken("A bearer token is required")
        }
        return String(parts[1])
    }

    static func invalidToken(_ description: String) -> OAuthError { OAuthError(.invalidToken, description) }
}
