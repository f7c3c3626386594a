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
        /// What a document may ask for.
        public var policy: ClientMetadataPolicy

        public init(issuer: String, mode: Mode, policy: ClientMetadataPolicy) {
            self.issuer = issuer
            self.mode = mode
            self.policy = policy
        }
    }

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
        let initialToken = configuration.mode == .token ? OpaqueToken(try Self.bearerToken(authorization)) : nil
        // Someone without a usable token learns nothing of the rules; a document that breaks them spends no use.
        if let initialToken, !(try await initialTokens.initialAccessTokens().contains { $0.digest == initialToken.digest && $0.isUsable(at: now) }) {
            throw Self.invalidToken("The initial access token is invalid, expired, revoked or used up")
        }
        let document = try ClientMetadataDocument(json: body)
        var (client, secret) = try configuration.policy.makeClient(document, now: now)
        if let initialToken, !(try await initialTokens.spendInitialAccessToken(digest: initialToken.digest, at: now)) {
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
        var (client, secret) = try configuration.policy.makeClient(document, now: current.createdAt)
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
