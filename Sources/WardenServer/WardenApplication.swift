import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import WardenCore
import WardenHTTP
import WardenTokens

/// Builds the real application: used by `warden serve` and, in-process, by the tests.
/// Makes sure a signing key can sign, loads the key ring, and wires the endpoints.
/// `metrics` and `tracing` (the span exporter's service) come bootstrapped, or nil: off.
public func buildApplication(
    configuration: WardenConfiguration, store: any Storage, keyEncryptionKey: KeyEncryptionKey, logger: Logger,
    metrics: WardenMetrics? = nil, tracing: (any Service)? = nil, demo: DemoCallback? = nil, onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let issuer = configuration.effectiveIssuer
    let clock = SystemClock()
    let manager = SigningKeyManager(repository: store, encryptionKey: keyEncryptionKey, clock: clock)
    // A key ring for access tokens, RS256 for ID tokens, and any algorithm a client registered.
    let clientAlgorithms = try await store.allClients().map(\.idTokenSigningAlgorithm)
    var ensured = Set<SigningAlgorithm>()
    for algorithm in configuration.requiredSigningAlgorithms + clientAlgorithms where ensured.insert(algorithm).inserted {
        try await manager.ensureSigningKey(algorithm: algorithm)
    }
    let keyRing = KeyRing(issuer: issuer, encryptionKey: keyEncryptionKey, accessTokenAlgorithm: configuration.signingAlgorithm)
    let keys = KeyRingRefresher(store: store, keyRing: keyRing, manager: manager)
    try await keys.reload()

    // The hot endpoints read clients from memory; the store's change counters keep it exact.
    let clients = ClientCache(store: store, changes: store)
    // Clients whose id is the URL of their metadata document join them, when that is on.
    let (knownClients, documentFetcher) = metadataDocumentClients(configuration: configuration, stored: clients, clock: clock)
    if configuration.allowHTTPClientMetadata {
        logger.warning("allow_http_client_metadata is on: client metadata documents may be fetched over http and from private addresses (development only)")
    }
    let clientLimits = (
        perClientFromAddress: FailureRateLimiter(limit: configuration.clientAuthenticationFailuresPerClient),
        perAddress: FailureRateLimiter(limit: configuration.clientAuthenticationFailuresPerAddress)
    )
    // private_key_jwt's keys (fetched from jwks_uri when registered so) and DPoP's proofs and nonces.
    let jwksFetcher = HTTPDocumentFetcher(maximumSize: 64 * 1024, publicAddressesOnly: !configuration.allowHTTPJWKSURI)
    if configuration.allowHTTPJWKSURI { logger.warning("allow_http_jwks_uri is on: client keys may be fetched over plain http (development only)") }
    if configuration.registration == .open { logger.warning("registration is open: anyone may register a client over HTTP (development only)") }
    let assertions = ClientAssertionVerifier(
        issuer: issuer, keys: ClientKeys(fetcher: jwksFetcher, allowHTTP: configuration.allowHTTPJWKSURI, clock: clock), usedJTIs: store,
        clock: clock)
    let dpop = DPoPProofVerifier(
        configuration: .init(proofLifetime: TimeInterval(configuration.dpopProofLifetime), requireNonce: configuration.dpopNonce == .required),
        issuer: issuer, nonces: DPoPNonces(secret: try await store.serverSecret(name: "dpop_nonce") { RandomToken.bytes(32) }),
        usedJTIs: store, clock: clock)
    let authenticator = ClientAuthenticator(
        clients: knownClients, failuresPerClient: clientLimits.perClientFromAddress, failuresPerAddress: clientLimits.perAddress, clock: clock,
        assertions: assertions)
    let introspection = IntrospectionEndpoint(
        authenticator: authenticator, verifier: keys, revocations: store, clients: clients, grants: store, changes: store, clock: clock)
    var handlers = grantHandlers(configuration: configuration, store: store, signer: keyRing, idTokens: keys, clock: clock)
    // RFC 8693: a subject token is live by introspection's rule.
    handlers[.tokenExchange] = TokenExchangeGrant(issuer: issuer, introspection: introspection, signer: keyRing, clock: clock)
    let backchannelLogouts = BackchannelLogoutService(queue: store, clients: clients, tokens: keys, issuer: issuer, logger: logger)
    let signInLimits = [
        store.signInFailures(scope: "account_address", limit: configuration.loginFailuresPerAccount, window: 60),
        store.signInFailures(scope: "account", limit: configuration.loginFailuresPerAccountAnyAddress, window: 60),
        store.signInFailures(scope: "address", limit: configuration.loginFailuresPerAddress, window: 60),
    ]
    let browser = try await browserFlow(
        configuration: configuration, store: store, clients: knownClients, signInLimits: signInLimits, idTokens: keys,
        sessionEnded: { backchannelLogouts.wake() }, keyEncryptionKey: keyEncryptionKey, clock: clock)
    let routes = WardenRoutes(
        tokenEndpoint: TokenEndpoint(authenticator: authenticator, handlers: handlers, dpop: dpop),
        introspectionEndpoint: introspection,
        revocationEndpoint: RevocationEndpoint(authenticator: authenticator, verifier: keys, revocations: store, grants: store, clock: clock),
        userInfo: UserInfoEndpoint(introspection: introspection, grants: store, clock: clock),
        pushedAuthorization: PushedAuthorizationEndpoint(
            authenticator: authenticator, authorization: browser.authorization, store: store, dpop: dpop, clock: clock),
        deviceAuthorization: DeviceAuthorizationEndpoint(
            configuration: .init(
                issuer: issuer, lifetime: configuration.deviceCodeLifetime, defaultAudience: configuration.effectiveDefaultAudience),
            authenticator: authenticator, store: store, clock: clock),
        dpop: dpop,
        keyRing: keyRing,
        metadata: AuthorizationServerMetadata(
            issuer: issuer, grantTypes: handlers.keys.map(\.rawValue).sorted(), scopes: configuration.scopes,
            codeChallengeMethods: configuration.allowPlainPKCE ? ["S256", "plain"] : ["S256"],
            requirePushedAuthorizationRequests: configuration.requirePushedAuthorizationRequests,
            registration: configuration.registration != .off, clientIDMetadataDocuments: configuration.clientIDMetadataDocuments),
        registeredScopes: { try await clients.allClients().flatMap(\.scope.tokens) },
        isHealthy: { await store.isHealthy() },
        jwksMaxAge: configuration.jwksMaxAge,
        browser: browser, demo: demo,
        registration: DynamicClientRegistration(
            configuration: .init(
                issuer: issuer, mode: configuration.registration,
                policy: .registration(
                    scopes: Scope(tokens: configuration.effectiveRegistrationScopes), idTokenAlgorithms: configuration.requiredSigningAlgorithms,
                    allowHTTPJWKSURI: configuration.allowHTTPJWKSURI)),
            clients: clients, initialTokens: store, perAddress: signInLimits[2], clock: clock))

    let connections = ConnectionCounter(maximum: configuration.maxConnections)
    let maintenance = MaintenanceService(
        store: store, keys: keys, manager: manager,
        limiters: [clientLimits.perClientFromAddress, clientLimits.perAddress] + signInLimits.compactMap { $0 as? FailureRateLimiter },
        configuration: configuration, interval: .seconds(2), logger: logger)
    var services: [any Service] = [maintenance, backchannelLogouts, jwksFetcher]
    if let documentFetcher { services.append(documentFetcher) }
    if let metrics, let address = configuration.metricsAddress { services.append(metrics.listener(address: address, logger: logger)) }
    if let tracing { services.append(tracing) }
    return Application(
        router: routes.router(logger: logger, recordingMetrics: metrics != nil, tracing: tracing != nil),
        // A connection that sends nothing for this long is closed (idle keep-alive, stalled clients);
        // one whose request does not arrive whole in time too; and past the cap, new ones at once.
        server: .http1(
            configuration: .init(
                additionalChannelHandlers: [
                    ConnectionGuard(counter: connections, requestTimeout: .seconds(Int64(configuration.requestTimeout)))
                ],
                idleTimeout: .seconds(Int64(configuration.connectionIdleTimeout)))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        services: services,
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            await onServerRunning("http://\(configuration.host):\(port)")
        },
        logger: logger)
}

/// The clients requests may name: `stored`, and with `client_id_metadata_documents` on,
/// those whose id is their metadata document's URL; with the fetcher to run as a service.
func metadataDocumentClients(
    configuration: WardenConfiguration, stored: any ClientRepository, clock: any WardenClock
) -> (any ClientRepository, HTTPDocumentFetcher?) {
    guard configuration.clientIDMetadataDocuments else { return (stored, nil) }
    let allowHTTP = configuration.allowHTTPClientMetadata
    let fetcher = HTTPDocumentFetcher(maximumSize: ClientIDMetadataDocuments.maximumSize, publicAddressesOnly: !allowHTTP)
    let policy = ClientMetadataPolicy.metadataDocument(
        scopes: Scope(tokens: configuration.effectiveRegistrationScopes), idTokenAlgorithms: configuration.requiredSigningAlgorithms,
        allowHTTPJWKSURI: configuration.allowHTTPJWKSURI)
    let documents = ClientIDMetadataDocuments(policy: policy, fetcher: fetcher, store: stored, allowHTTP: allowHTTP, clock: clock)
    return (MetadataDocumentClients(stored: stored, documents: documents, allowHTTP: allowHTTP), fetcher)
}

/// The token endpoint's grant handlers, by `grant_type`.
func grantHandlers(
    configuration: WardenConfiguration, store: any Storage, signer: any AccessTokenSigner, idTokens: any OpenIDTokenSigner,
    clock: any WardenClock
) -> [GrantType: any GrantHandler] {
    let issuer = configuration.effectiveIssuer
    let clientCredentials = ClientCredentialsGrant(
        configuration: .init(
            issuer: issuer, accessTokenLifetime: configuration.accessTokenLifetime, defaultAudience: configuration.effectiveDefaultAudience),
        signer: signer, clock: clock)
    let userTokens = UserTokenIssuer(
        configuration: .init(
            issuer: issuer, accessTokenLifetime: configuration.accessTokenLifetime,
            refreshTokenIdleLifetime: TimeInterval(configuration.refreshTokenIdleLifetime),
            refreshTokenAbsoluteLifetime: TimeInterval(configuration.refreshTokenAbsoluteLifetime),
            refreshTokenGracePeriod: TimeInterval(configuration.refreshTokenGracePeriod),
            idTokenLifetime: TimeInterval(configuration.idTokenLifetime)),
        signer: signer, idTokens: idTokens, users: store)
    return [
        .clientCredentials: clientCredentials,
        .authorizationCode: AuthorizationCodeGrant(tokens: userTokens, grants: store, clock: clock),
        .refreshToken: RefreshTokenGrant(tokens: userTokens, grants: store, clock: clock),
        .deviceCode: DeviceCodeGrant(tokens: userTokens, store: store, clock: clock),
    ]
}

/// What the browser pages call into: authorization, sessions, sign-in, logout and the page
/// templates. `clients`: the cached ones (`/par` and `/authorize` read a client per request).
/// `signInLimits`: per account from an address, per account, per address.
func browserFlow(
    configuration: WardenConfiguration, store: any Storage, clients: any ClientRepository, signInLimits: [any FailureCounting],
    idTokens: any OpenIDTokenSigner,
    sessionEnded: @escaping @Sendable () -> Void, keyEncryptionKey: KeyEncryptionKey, clock: any WardenClock
) async throws -> BrowserFlow {
    let hasher = BcryptPasswordHasher()
    let sessions = BrowserSessions(repository: store, clock: clock, lifetime: TimeInterval(configuration.sessionLifetime))
    return BrowserFlow(
        authorization: AuthorizationEndpoint(
            configuration: authorizationConfiguration(configuration),
            clients: clients, grants: store, consents: store, idTokens: idTokens, pushedRequests: store, clock: clock),
        sessions: sessions,
        preLogin: PreLoginCookies(key: keyEncryptionKey.derivedKey(for: "warden pre-login cookie"), clock: clock),
        signIn: SignIn(
            sessions: sessions,
            login: Login(users: store, hasher: hasher, decoyHash: try await hasher.hash(RandomToken.make(byteCount: 16))),
            perAccountFromAddress: signInLimits[0], perAccount: signInLimits[1], perAddress: signInLimits[2], clock: clock),
        // Typed user codes spend the address's sign-in failure budget (DEVICES-AND-REGISTRATION.md).
        device: DeviceVerification(store: store, clients: clients, perAddress: signInLimits[2], clock: clock),
        receipts: SignInReceipts(key: keyEncryptionKey.derivedKey(for: "warden sign-in receipt")),
        logout: LogoutEndpoint(clients: store, idTokens: idTokens), sessionEnded: sessionEnded,
        users: store,
        pages: try PageRenderer(
            templatesDirectory: configuration.templatesDirectory, brandName: configuration.brandName, logoFile: configuration.brandLogoFile),
        secureCookies: configuration.effectiveIssuer.lowercased().hasPrefix("https:"),
        scopeDescriptions: configuration.scopeDescriptions)
}

/// What `/authorize` and `/par` are configured with.
func authorizationConfiguration(_ configuration: WardenConfiguration) -> AuthorizationEndpoint.Configuration {
    var result = AuthorizationEndpoint.Configuration(
        issuer: configuration.effectiveIssuer, defaultAudience: configuration.effectiveDefaultAudience,
        allowPlainPKCE: configuration.allowPlainPKCE)
    result.requirePushedRequests = configuration.requirePushedAuthorizationRequests
    return result
}
