import HTTPTypes
import Hummingbird
import WardenCore

/// Turns everything a route throws into a response; the one place that decides an
/// error's HTTP status and headers.
///
/// - An `OAuthError` becomes RFC 6749 §5.2 JSON.
/// - Hummingbird's own errors (an unmatched path, a body too large) their response,
///   here rather than in the server, so that the request log and the metrics see it.
/// - Anything else came from below the protocol, since Core throws only `OAuthError`:
///   the database unreachable, the disk full or read-only. It is retryable: 503
///   `temporarily_unavailable` (an HTML page for a browser), its cause logged once per
///   cause by `failures`, not once per request.
struct OAuthErrorMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext
    let failures: StorageFailureLog
    /// The page a browser gets instead of JSON when the server cannot answer.
    let unavailablePage: @Sendable () -> Response

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as OAuthError {
            context.outcome.failure = error
            return Self.response(for: error)
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context)
        } catch {
            failures.report(error)
            let failure = OAuthError.temporarilyUnavailable(cause: String(describing: error))
            context.outcome.failure = failure
            if request.headers[.accept]?.contains("text/html") == true { return unavailablePage() }
            return Self.response(for: failure)
        }
    }

    static func response(for error: OAuthError) -> Response {
        var headers = HTTPFields.noStore
        let status: HTTPResponse.Status
        switch error.code {
        case _ where error.retryAfter != nil:
            status = .tooManyRequests
            headers[.retryAfter] = "\(error.retryAfter ?? 1)"
        case .temporarilyUnavailable:
            status = .serviceUnavailable
            headers[.retryAfter] = "1"
        case .invalidClient:
            // RFC 6749 §5.2: 401, with the scheme the client may use.
            status = .unauthorized
            headers[.wwwAuthenticate] = #"Basic realm="warden""#
        case .invalidToken:
            // RFC 6750 §3.1, for the bearer tokens of `/register/<id>`.
            status = .unauthorized
            headers[.wwwAuthenticate] = #"Bearer realm="warden", error="invalid_token""#
        default:
            status = .badRequest
        }
        if let nonce = error.dpopNonce { headers[.dpopNonce] = nonce }
        return JSONBody.response(error.responseFields, status: status, headers: headers)
    }
}
