import HTTPTypes
import Hummingbird
import WardenCore

/// Renders every `OAuthError` a route throws as RFC 6749 §5.2 JSON. The one place
/// that decides an OAuth error's HTTP status and headers.
struct OAuthErrorMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as OAuthError {
            context.outcome.failure = error
            return Self.response(for: error)
        }
    }

    static func response(for error: OAuthError) -> Response {
        var headers = HTTPFields.noStore
        let status: HTTPResponse.Status
        switch error.code {
        case _ where error.retryAfter != nil:
            status = .tooManyRequests
            headers[.retryAfter] = "\(error.retryAfter ?? 1)"
        case .invalidClient:
            // RFC 6749 §5.2: 401, with the scheme the client may use.
            status = .unauthorized
            headers[.wwwAuthenticate] = #"Basic realm="warden""#
        default:
            status = .badRequest
        }
        return JSONBody.response(error.responseFields, status: status, headers: headers)
    }
}
