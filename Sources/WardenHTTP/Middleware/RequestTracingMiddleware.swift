import HTTPTypes
import Hummingbird
import Instrumentation
import Tracing

/// One server span per request (OPERATIONS.md), named `METHOD ROUTE` with the HTTP
/// semantic conventions' attributes, continuing the request's W3C `traceparent`.
///
/// Hummingbird's `TracingMiddleware` records the query string, where `/authorize`,
/// `/logout` and the demo callback carry codes, hints and PKCE values, and names spans
/// by route alone; this one records no query, no header and no body.
struct RequestTracingMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext
    /// `url.scheme` and `server.address`: the issuer's, as clients see them behind a proxy.
    let scheme: String
    let serverAddress: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var parent = InstrumentationContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(request.headers, into: &parent, using: HeaderExtractor())
        let method = request.method.rawValue
        return try await withSpan(method, context: parent, ofKind: .server) { span in
            span.attributes["http.request.method"] = method
            span.attributes["url.scheme"] = scheme
            span.attributes["server.address"] = serverAddress
            let status: Int
            do {
                let response = try await next(request, context)
                status = response.status.code
                end(span, method: method, route: context.endpointPath, status: status)
                return response
            } catch {
                status = (error as? any HTTPResponseError)?.status.code ?? 500
                end(span, method: method, route: context.endpointPath, status: status)
                throw error
            }
        }
    }

    private func end(_ span: any Span, method: String, route: String?, status: Int) {
        // Only a matched route names the span (Hummingbird marks an unmatched path "NotFound").
        if let route, route != "NotFound" {
            span.operationName = "\(method) \(route)"
            span.attributes["http.route"] = route
        }
        span.attributes["http.response.status_code"] = status
        if status >= 500 { span.setStatus(.init(code: .error)) }
    }
}

/// Reads propagation headers (`traceparent`, `tracestate`) from a request.
private struct HeaderExtractor: Extractor {
    func extract(key: String, from headers: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { headers[$0] }
    }
}
