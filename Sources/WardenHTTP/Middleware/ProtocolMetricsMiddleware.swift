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

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        Self.record(context.outcome, route: context.endpointPath ?? "unknown")
        return response
    }

    static func record(_ outcome: RequestOutcome, route: String) {
        if let issued = outcome.issued {
            for tokenType in issued.tokenTypes {
                Counter(label: "warden_tokens_issued_total", dimensions: [("grant_type", issued.grantType), ("token_type", tokenType)])
                    .increment()
            }
        }
        if let introspection = outcome.introspection {
            Counter(
                label: "warden_introspections_total",
                dimensions: [("active", "\(introspection.active)"), ("cache", introspection.cached ? "hit" : "miss")]
            ).increment()
        }
        if let failure = outcome.failure { record(failure, route: route) }
        switch outcome.event?.name {
        case "login_succeeded": Counter(label: "warden_logins_total", dimensions: [("result", "success")]).increment()
        case "login_failed": Counter(label: "warden_logins_total", dimensions: [("result", "failure")]).increment()
        case "login_rate_limited":
            Counter(label: "warden_logins_total", dimensions: [("result", "rate_limited")]).increment()
            Counter(label: "warden_rate_limited_total", dimensions: [("limit", "login")]).increment()
        default: break
        }
    }

    private static func record(_ failure: OAuthError, route: String) {
        Counter(label: "warden_token_errors_total", dimensions: [("endpoint", route), ("error", failure.code.rawValue)]).increment()
        if failure.code == .invalidClient {
            let method = failure.clientAuthenticationMethod?.rawValue ?? "unknown"
            Counter(label: "warden_client_authentication_failures_total", dimensions: [("method", method)]).increment()
        }
        if failure.retryAfter != nil {
            Counter(label: "warden_rate_limited_total", dimensions: [("limit", "client_authentication")]).increment()
        }
        switch failure.securityEvent {
        case "refresh_token_reuse_detected": Counter(label: "warden_refresh_token_reuse_detected_total").increment()
        case "code_reuse_detected": Counter(label: "warden_code_reuse_detected_total").increment()
        default: break
        }
    }
}
