import Hummingbird
import Metrics
import WardenCore

/// Counts what a request meant to the protocol (OPERATIONS.md's `warden_*` series),
/// from the facts its handler left in `RequestOutcome`: tokens issued, OAuth errors by
/// endpoint, failed client authentications, reuse detections, logins, rate limiting and
/// introspections. Labels take values from fixed sets only (grant types the server
/// accepted, error codes, route patterns), never from raw input.
struct ProtocolMetricsMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext

    private let tokensIssued = MetricHandles<[String], Counter> { Counter(label: "warden_tokens_issued_total", dimensions: [("grant_type", $0[0]), ("token_type", $0[1])]) }
    private let introspections = MetricHandles<[String], Counter> { Counter(label: "warden_introspections_total", dimensions: [("active", $0[0]), ("cache", $0[1])]) }
    private let errors = MetricHandles<[String], Counter> { Counter(label: "warden_token_errors_total", dimensions: [("endpoint", $0[0]), ("error", $0[1])]) }
    private let authenticationFailures = MetricHandles<[String], Counter> {
        Counter(label: "warden_client_authentication_failures_total", dimensions: [("method", $0[0])])
    }
    private let logins = MetricHandles<[String], Counter> { Counter(label: "warden_logins_total", dimensions: [("result", $0[0])]) }
    private let rateLimited = MetricHandles<[String], Counter> { Counter(label: "warden_rate_limited_total", dimensions: [("limit", $0[0])]) }
    private let refreshTokenReuse = Counter(label: "warden_refresh_token_reuse_detected_total")
    private let codeReuse = Counter(label: "warden_code_reuse_detected_total")

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        record(context.outcome, route: context.endpointPath ?? "NotFound")
        return response
    }

    private func record(_ outcome: RequestOutcome, route: String) {
        if let issued = outcome.issued {
            for tokenType in issued.tokenTypes { tokensIssued(issued.grantType, tokenType).increment() }
        }
        if let introspection = outcome.introspection {
            introspections(introspection.active ? "true" : "false", introspection.cached ? "hit" : "miss").increment()
        }
        if let failure = outcome.failure { record(failure, route: route) }
        switch outcome.event?.name {
        case "login_succeeded": logins("success").increment()
        case "login_failed": logins("failure").increment()
        case "login_rate_limited":
            logins("rate_limited").increment()
            rateLimited("login").increment()
        case "device_code_rate_limited": rateLimited("device_code").increment()
        default: break
        }
    }

    private func record(_ failure: OAuthError, route: String) {
        errors(route, failure.code.rawValue).increment()
        if failure.code == .invalidClient { authenticationFailures(failure.clientAuthenticationMethod?.rawValue ?? "unknown").increment() }
        if failure.retryAfter != nil { rateLimited(route.hasPrefix("/register") ? "registration" : "client_authentication").increment() }
        switch failure.securityEvent {
        case "refresh_token_reuse_detected": refreshTokenReuse.increment()
        case "code_reuse_detected": codeReuse.increment()
        default: break
        }
    }
}
