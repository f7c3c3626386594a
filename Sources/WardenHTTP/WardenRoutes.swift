import Foundation
import Hummingbird
import Logging
import WardenCore
import WardenTokens

/// Everything the HTTP routes call into. Built by the server's composition root.
public struct WardenRoutes: Sendable {
    public var tokenEndpoint: TokenEndpoint
    public var introspectionEndpoint: IntrospectionEndpoint
    public var revocationEndpoint: RevocationEndpoint
    /// OpenID Connect UserInfo.
    public var userInfo: UserInfoEndpoint
    /// RFC 9126 `/par`.
    public var pushedAuthorization: PushedAuthorizationEndpoint
    /// RFC 8628 `/device_authorization`.
    public var deviceAuthorization: DeviceAuthorizationEndpoint
    /// RFC 7591 and 7592 `/register`; nil or `off`: no such route.
    public var registration: DynamicClientRegistration?
    /// RFC 9449 proofs presented with access tokens (UserInfo).
    public var dpop: DPoPProofVerifier
    public var keyRing: KeyRing
    /// The metadata document; `scopes_supported` is completed per request.
    public var metadata: AuthorizationServerMetadata
    /// Scopes of registered clients, for `scopes_supported`.
    public var registeredScopes: @Sendable () async throws -> [String]
    /// Whether the database answers.
    public var isHealthy: @Sendable () async -> Bool
    /// How long resource servers may cache the JWKS; kept below the key lead time.
    public var jwksMaxAge: Int
    /// The browser pages.
    public var browser: BrowserFlow
    /// The demo's stand-in application (`serve --demo` only).
    public var demo: DemoCallback?

    public init(
        tokenEndpoint: TokenEndpoint, introspectionEndpoint: IntrospectionEndpoint,
        revocationEndpoint: RevocationEndpoint, userInfo: UserInfoEndpoint, pushedAuthorization: PushedAuthorizationEndpoint,
        deviceAuthorization: DeviceAuthorizationEndpoint, dpop: DPoPProofVerifier, keyRing: KeyRing, metadata: AuthorizationServerMetadata,
        registeredScopes: @escaping @Sendable () async throws -> [String], isHealthy: @escaping @Sendable () async -> Bool,
        jwksMaxAge: Int, browser: BrowserFlow, demo: DemoCallback? = nil, registration: DynamicClientRegistration? = nil
    ) {
        self.registration = registration
        self.browser = browser
        self.userInfo = userInfo
        self.pushedAuthorization = pushedAuthorization
        self.deviceAuthorization = deviceAuthorization
        self.dpop = dpop
        self.demo = demo
        self.tokenEndpoint = tokenEndpoint
        self.introspectionEndpoint = introspectionEndpoint
        self.revocationEndpoint = revocationEndpoint
        self.keyRing = keyRing
        self.metadata = metadata
        self.registeredScopes = registeredScopes
        self.isHealthy = isHealthy
        self.jwksMaxAge = jwksMaxAge
    }

    /// The router with every route and middleware; `recordingMetrics` adds the HTTP and
    /// protocol metrics (swift-metrics), `tracing` a server span per request
    /// (swift-distributed-tracing); the caller bootstraps both backends.
    public func router(logger: Logger, recordingMetrics: Bool = false, tracing: Bool = false) -> Router<WardenRequestContext> {
        // RFC 9110 §9.1: every GET route answers HEAD too.
        let router = Router(context: WardenRequestContext.self, options: .autoGenerateHeadEndpoints)
        if tracing {
            // Outermost, so that the request's log line is written inside its span (trace_id, span_id).
            let issuer = URLComponents(string: metadata.issuer)
            router.add(middleware: RequestTracingMiddleware(scheme: issuer?.scheme ?? "http", serverAddress: issuer?.host ?? "localhost"))
        }
        router.add(middleware: RequestLogMiddleware(logger: logger))
        if recordingMetrics {
            router.add(middleware: HTTPMetricsMiddleware())
            router.add(middleware: ProtocolMetricsMiddleware())
        }
        let pages = browser.pages
        router.add(middleware: OAuthErrorMiddleware(failures: StorageFailureLog(logger: logger), unavailablePage: { pages.unavailablePage() }))
        addTokenRoutes(to: router)
        addDiscoveryRoutes(to: router)
        addUserInfoRoutes(to: router)
        addOpenAPIRoute(to: router)
        addRegistrationRoutes(to: router)
        let browserController = BrowserController(flow: browser)
        browserController.addRoutes(to: router)
        LogoutController(browser: browserController).addRoutes(to: router)
        DeviceController(browser: browserController, device: browser.device).addRoutes(to: router)
        if let demo { DemoController(demo: demo, tokenEndpoint: tokenEndpoint, pages: browser.pages).addRoutes(to: router) }
        router.get("/healthz") { _, _ in
            await isHealthy()
                ? JSONBody.response(["status": "ok"], headers: .noStore)
                : JSONBody.response(["status": "unavailable"], status: .serviceUnavailable, headers: .noStore)
        }
        addMethodNotAllowedRoutes(to: router)
        return router
    }
}
