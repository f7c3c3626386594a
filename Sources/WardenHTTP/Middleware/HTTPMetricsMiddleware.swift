import Dispatch
import HTTPTypes
import Hummingbird
import Metrics

/// `warden_http_requests_total{route,method,status}` and
/// `warden_http_request_duration_seconds{route,method}` (OPERATIONS.md). `route` is the
/// route pattern; an unmatched path is `NotFound`, never the path itself.
///
/// Hummingbird's `MetricsMiddleware` was measured here first: it wraps every response
/// body to time its last byte and keeps an active-requests gauge, which together took a
/// fifth off `/healthz` and the token route. This one times the handler, and finds both
/// handles of a request with one lookup.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext

    private struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    private struct Handles: Sendable {
        let requests: Counter
        let duration: Metrics.Timer
    }

    /// Routes, methods and statuses are few: each key's handles are made once.
    private let handles = MetricHandles<Key, Handles> { key in
        Handles(
            requests: Counter(
                label: "warden_http_requests_total",
                dimensions: [("route", key.route), ("method", key.method.rawValue), ("status", String(key.status))]),
            duration: Metrics.Timer(
                label: "warden_http_request_duration_seconds", dimensions: [("route", key.route), ("method", key.method.rawValue)],
                preferredDisplayUnit: .seconds))
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let response = try await next(request, context)
            record(Key(route: context.endpointPath ?? "NotFound", method: request.method, status: response.status.code), since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(Key(route: context.endpointPath ?? "NotFound", method: request.method, status: status), since: start)
            throw error
        }
    }

    private func record(_ key: Key, since start: UInt64) {
        let found = handles(key)
        found.requests.increment()
        found.duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
    }
}
