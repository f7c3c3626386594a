import Hummingbird
import Logging
import WardenCore

/// One log line per request: its id, method, path (never the query), status, duration,
/// client and, for a failure, its OAuth error code, description and internal cause.
/// A request that was a security event (OPERATIONS.md: a failed login, a reused code...)
/// gets a second line at `notice` with an `event` field. Never a secret, token or cookie.
///
/// The request id is the request's `X-Request-Id` when it is 1–128 characters of
/// `[A-Za-z0-9._-]`, else a new random one; the response echoes it.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let requestID = request.headers[.xRequestID].flatMap(Self.acceptable) ?? RandomToken.make(byteCount: 12)
        do {
            var response = try await next(request, context)
            response.headers[.xRequestID] = requestID
            log(request, context: context, requestID: requestID, status: response.status.code, start: start)
            return response
        } catch {
            log(request, context: context, requestID: requestID, status: (error as? any HTTPResponseError)?.status.code ?? 500, start: start)
            throw error
        }
    }

    static func acceptable(_ id: String) -> String? {
        guard (1...128).contains(id.utf8.count), id.utf8.allSatisfy(isIDCharacter) else { return nil }
        return id
    }

    static func isIDCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    private func log(_ request: Request, context: Context, requestID: String, status: Int, start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        var metadata: Logger.Metadata = [
            "request_id": "\(requestID)", "method": "\(request.method.rawValue)", "path": "\(request.uri.path)", "status": "\(status)",
            "duration_us": "\(micros)",
        ]
        if let client = context.outcome.clientID { metadata["client_id"] = "\(client)" }
        let failure = context.outcome.failure
        if let failure {
            metadata["error"] = "\(failure.code.rawValue)"
            if let description = failure.publicDescription { metadata["error_description"] = "\(description)" }
        }
        if let cause = failure?.internalCause ?? context.outcome.errorCause { metadata["error_cause"] = "\(cause)" }
        logger.info("request", metadata: metadata)
        guard let event = Self.event(failure: failure, outcome: context.outcome) else { return }
        var fields: Logger.Metadata = ["event": "\(event.name)", "request_id": "\(requestID)"]
        if let address = context.remoteAddress { fields["address"] = "\(address)" }
        if let client = context.outcome.clientID { fields["client_id"] = "\(client)" }
        for (key, value) in event.fields { fields[key] = "\(value)" }
        logger.notice("security event", metadata: fields)
    }

    /// The security event the request was: the one a handler named, or the one its OAuth error is.
    static func event(failure: OAuthError?, outcome: RequestOutcome) -> RequestOutcome.SecurityEvent? {
        if let event = outcome.event { return event }
        if let name = failure?.securityEvent { return .init(name: name, fields: [:]) }
        if failure?.code == .invalidClient { return .init(name: "client_authentication_failed", fields: [:]) }
        return nil
    }
}
