import Hummingbird
import Logging

/// One log line per request: method, path (never the query), status, duration, client
/// and, for a failure, its OAuth error code, description and internal cause. Never a
/// secret, token or cookie.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context: context, status: response.status.code, start: start)
            return response
        } catch {
            log(request, context: context, status: (error as? any HTTPResponseError)?.status.code ?? 500, start: start)
            throw error
        }
    }

    private func log(_ request: Request, context: Context, status: Int, start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        var metadata: Logger.Metadata = [
            "method": "\(request.method.rawValue)", "path": "\(request.uri.path)", "status": "\(status)",
            "duration_us": "\(micros)",
        ]
        if let client = context.outcome.clientID { metadata["client_id"] = "\(client)" }
        if let failure = context.outcome.failure {
            metadata["error"] = "\(failure.code.rawValue)"
            if let description = failure.publicDescription { metadata["error_description"] = "\(description)" }
        }
        if let cause = context.outcome.failure?.internalCause ?? context.outcome.errorCause { metadata["error_cause"] = "\(cause)" }
        logger.info("request", metadata: metadata)
    }
}
