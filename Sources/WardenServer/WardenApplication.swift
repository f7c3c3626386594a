import Foundation
import Hummingbird
import Logging
import WardenCore
import WardenHTTP
import WardenStore
import WardenTokens

/// Builds the real application: used by `warden serve` and, in-process, by the tests.
/// Makes sure a signing key can sign, loads the key ring, and wires the endpoints.
public func buildApplication(
    configuration: WardenConfiguration, store: SQLiteStore, keyEncryptionKey: KeyEncryptionKey, logger: Logger,
    onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let issuer = configuration.effectiveIssuer
    let clock = SystemClock()
    let manager = SigningKeyManager(repository: store, encryptionKey: keyEncryptionKey, clock: clock)
    try await manager.ensureSigningKey(algorithm: configuration.signingAlgorithm)
    let keyRing = KeyRing(issuer: issuer, encryptionKey: keyEncryptionKey)
    try await keyRing.load(try await store.allSigningKeys(), now: clock.now())

    let authenticator = ClientAuthenticator(clients: store)
    let clientCredentials = ClientCredentialsGrant(
        configuration: .init(
            issuer: issuer, accessTokenLifetime: configuration.accessTokenLifetime,
            defaultAudience: configuration.effectiveDefaultAudience),
        signer: keyRing, clock: clock)
    let routes = WardenRoutes(
        tokenEndpoint: TokenEndpoint(authenticator: authenticator, handlers: [.clientCredentials: clientCredentials]),
        introspectionEndpoint: IntrospectionEndpoint(authenticator: authenticator, verifier: keyRing, revocations: store, clients: store),
        revocationEndpoint: RevocationEndpoint(authenticator: authenticator, verifier: keyRing, revocations: store),
        keyRing: keyRing,
        metadata: AuthorizationServerMetadata(
            issuer: issuer, grantTypes: [GrantType.clientCredentials.rawValue], scopes: configuration.scopes),
        registeredScopes: { try await store.allClients().flatMap(\.scope.tokens) },
        isHealthy: { await store.isHealthy() },
        jwksMaxAge: configuration.jwksMaxAge)

    let maintenance = KeyMaintenanceService(
        store: store, keyRing: keyRing, manager: manager, configuration: configuration, interval: .seconds(2), logger: logger)
    return Application(
        router: routes.router(logger: logger),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        services: [maintenance],
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            await onServerRunning("http://\(configuration.host):\(port)")
        },
        logger: logger)
}
