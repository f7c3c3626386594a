import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import WardenHTTP
import WardenServer
import WardenTokens

/// `warden serve`: migrate, make sure a key can sign, then serve until SIGINT/SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the authorization server.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Interface to listen on (env WARDEN_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (env WARDEN_PORT; default 8080).")
    var port: Int?

    @Option(help: "The exact issuer URL (env WARDEN_ISSUER; default http://localhost:<port>).")
    var issuer: String?

    @Option(help: "Serve Prometheus metrics at GET /metrics on this host:port (env WARDEN_METRICS_ADDRESS; default off).")
    var metricsAddress: String?

    @Flag(help: "Create demo clients and, if none is given, a key-encryption key beside the database. Never in production.")
    var demo = false

    func run() async throws {
        var configuration = try global.configuration()
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let issuer { configuration.issuer = issuer }
        if let metricsAddress { configuration.metricsAddress = try WardenConfiguration.listenAddress(metricsAddress, source: "--metrics-address") }
        try configuration.validate(source: "command line")
        let tracingRequested = WardenTracing.isRequested(by: ProcessInfo.processInfo.environment)
        GlobalOptions.bootstrapLogging(
            level: configuration.logLevel, format: configuration.logFormat,
            metadataProvider: tracingRequested ? WardenTracing.logMetadataProvider : nil)
        let logger = Logger(label: "warden")
        // Before the store opens: metrics made before the bootstrap would record nothing.
        let metrics = configuration.metricsAddress.map { _ in WardenMetrics.bootstrap() }
        if let address = configuration.metricsAddress { try await WardenMetrics.checkListenable(address) }
        let tracing = try tracingRequested ? WardenTracing.bootstrap(logger: logger) : nil

        try await global.withOpenStore(configuration) { store in
            try await serve(store: store, configuration: configuration, metrics: metrics, tracing: tracing, logger: logger)
        }
    }

    func serve(
        store: any WardenStorage, configuration: WardenConfiguration, metrics: WardenMetrics?, tracing: (any Service)?, logger: Logger
    ) async throws {
        let keyEncryptionKey: KeyEncryptionKey
        if let key = try global.optionalKeyEncryptionKey(configuration) {
            keyEncryptionKey = key
        } else if demo {
            let demoKey = try KeyEncryptionKeySource.demoKey(directory: configuration.databaseLocation.localDirectory)
            logger.warning(
                "DEMO MODE: signing keys are encrypted with a generated key-encryption key stored next to the database. Never use --demo in production.",
                metadata: ["file": "\(demoKey.path)", "generated": "\(demoKey.generated)"])
            keyEncryptionKey = demoKey.key
        } else {
            keyEncryptionKey = try global.requiredKeyEncryptionKey(configuration)
        }
        let issuer = configuration.effectiveIssuer
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        var demoCallback: DemoCallback?
        var banner = ""
        if demo {
            let credentials = try await DemoSetup.ensure(
                store: store, directory: configuration.databaseLocation.localDirectory, redirectURI: base + "/demo/callback")
            let pkce = DemoSetup.pkcePair()
            demoCallback = DemoCallback(
                clientID: credentials.publicClientID, redirectURI: credentials.redirectURI, verifier: pkce.verifier, tokenURL: base + "/token")
            banner = DemoBanner.text(credentials: credentials, base: base, pkce: pkce) + "\n"
            logger.warning("DEMO MODE: demo clients and a demo user exist in this database. Never use --demo in production.")
        }
        let app = try await buildApplication(
            configuration: configuration, store: store, keyEncryptionKey: keyEncryptionKey, logger: logger, metrics: metrics, tracing: tracing,
            demo: demoCallback,
            onServerRunning: { [banner, format = configuration.logFormat] address in
                let line = "Warden listening on \(address) (issuer \(issuer))"
                guard format == .text else {
                    // JSON lines only: a log pipeline reads every line as one object.
                    logger.info("\(line)", metadata: ["address": "\(address)", "issuer": "\(issuer)"])
                    if !banner.isEmpty { logger.notice("\(banner)") }
                    return
                }
                // Unbuffered, so that a process reading our output sees it at once.
                FileHandle.standardOutput.write(Data("\(line)\n\(banner)".utf8))
            })
        do {
            try await app.runService()
        } catch let error as IOError {
            // NIO's own description of a failed bind carries a stray parenthesis; the system's words do not.
            throw ConfigurationError("cannot serve on \(configuration.host):\(configuration.port): \(String(cString: strerror(error.errnoCode)))")
        } catch {
            throw ConfigurationError("cannot serve on \(configuration.host):\(configuration.port): \(GlobalOptions.oneLine(error))")
        }
    }
}

/// What `serve --demo` prints: credentials and commands to paste.
enum DemoBanner {
    static func text(credentials c: DemoSetup.Credentials, base: String, pkce: (verifier: String, challenge: String)) -> String {
        let redirect = c.redirectURI.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? c.redirectURI
        let authorize = "\(base)/authorize?response_type=code&client_id=\(c.publicClientID)&redirect_uri=\(redirect)"
            + "&scope=openid%20profile%20email%20offline_access&state=demo&nonce=demo"
            + "&code_challenge=\(pkce.challenge)&code_challenge_method=S256"
        return """

            ==================== Warden demo ====================
            Backend client (client credentials):
              client_id:     \(c.clientID)
              client_secret: \(c.clientSecret)
              scope:         \(c.scope)
              audience:      \(c.audience)

            Get a token:
              curl -s -u '\(c.clientID):\(c.clientSecret)' -d grant_type=client_credentials -d 'scope=demo:read' \(base)/token

            Introspect it (paste the access_token):
              curl -s -u '\(c.clientID):\(c.clientSecret)' -d token=ACCESS_TOKEN \(base)/introspect

            Browser sign-in (OpenID Connect: authorization code + PKCE), public client \(c.publicClientID):
              user: \(c.username)   password: \(c.password)
              1. Open: \(authorize)
              2. Sign in and allow. The browser lands on \(c.redirectURI), which Warden serves
                 in demo mode: it shows the code, and a button that exchanges it and shows the tokens
                 (the access token and the ID token, decoded).
              3. Or exchange it yourself (within 60 s):
                 curl -s -d grant_type=authorization_code -d client_id=\(c.publicClientID) -d code=CODE \\
                   --data-urlencode redirect_uri=\(c.redirectURI) -d code_verifier=\(pkce.verifier) \(base)/token

            Who signed in (paste that access_token):
              curl -s -H 'Authorization: Bearer ACCESS_TOKEN' \(base)/userinfo

            Discovery: \(base)/.well-known/openid-configuration
            =====================================================
            """
    }
}
