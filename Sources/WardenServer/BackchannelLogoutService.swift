import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import WardenCore

/// Sends the queued back-channel logouts (Back-Channel Logout 1.0 §2.5): a signed
/// logout token POSTed to each client's `backchannel_logout_uri`, off the request path,
/// 5 s per attempt, retried with backoff (the queue's lease) up to
/// `PendingBackchannelLogout.maximumAttempts` times. Failures are logged, never fatal.
/// It looks at the queue every second, and at once when `wake()` says a session ended
/// here; entries queued by the CLI or another instance are sent within the second.
struct BackchannelLogoutService: Service {
    let queue: any BackchannelLogoutQueue
    let clients: any ClientRepository
    let tokens: any OpenIDTokenSigner
    let issuer: String
    let logger: Logger
    private let wakeUps: AsyncStream<Void>
    private let wakeUp: AsyncStream<Void>.Continuation

    static let attemptTimeout: Int64 = 5
    static let pollInterval = Duration.seconds(1)

    init(queue: any BackchannelLogoutQueue, clients: any ClientRepository, tokens: any OpenIDTokenSigner, issuer: String, logger: Logger) {
        self.queue = queue
        self.clients = clients
        self.tokens = tokens
        self.issuer = issuer
        self.logger = logger
        (wakeUps, wakeUp) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks for the queue to be looked at now.
    func wake() { wakeUp.yield() }

    func run() async throws {
        // Redirects are not followed: the token goes where the client registered, nowhere else.
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        await withDiscardingTaskGroup { group in
            group.addTask {
                // Any wake-up, or the poll interval passing, starts a round.
                for await _ in wakeUps { await sendDue(http: http) }
            }
            group.addTask {
                while !Task.isShuttingDownGracefully {
                    do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.pollInterval) } } catch { break }
                    wakeUp.yield()
                }
                wakeUp.finish()
            }
        }
        try? await http.shutdown()
    }

    /// Claims what is due and sends it, all attempts at once.
    func sendDue(http: HTTPClient) async {
        let due: [PendingBackchannelLogout]
        do {
            due = try await queue.claimBackchannelLogouts(at: Date(), limit: 100, lease: TimeInterval(Self.attemptTimeout + 1))
        } catch {
            if !Task.isCancelled { logger.error("back-channel logout queue unreadable", metadata: ["error": "\(error)"]) }
            return
        }
        await withDiscardingTaskGroup { group in
            for logout in due { group.addTask { await send(logout, http: http) } }
        }
    }

    func send(_ logout: PendingBackchannelLogout, http: HTTPClient) async {
        var metadata: Logger.Metadata = ["event": "backchannel_logout", "client_id": "\(logout.clientID)", "attempt": "\(logout.attempt)"]
        do {
            guard let client = try await clients.client(id: logout.clientID), let uri = client.backchannelLogoutURI else {
                try await queue.finishBackchannelLogout(clientID: logout.clientID, sid: logout.sid)
                return
            }
            let now = Date()
            let token = try await tokens.signLogoutToken(
                LogoutTokenClaims(
                    issuer: issuer, clientID: client.id, issuedAt: now, expiresAt: now.addingTimeInterval(120),
                    jwtID: RandomToken.make(byteCount: 16), subject: logout.subject, sessionID: logout.sid),
                algorithm: client.idTokenSigningAlgorithm)
            var request = HTTPClientRequest(url: uri)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "Cache-Control", value: "no-store")
            request.body = .bytes(ByteBuffer(string: "logout_token=" + token))
            // A URI registered over HTTP is a stranger's: it must lead to a public address.
            let pinned = client.origin == "registration" ? try await HTTPDocumentFetcher.pinnedClient(for: uri) : nil
            defer { if let pinned { Task { try? await pinned.shutdown() } } }
            let response = try await (pinned ?? http).execute(request, timeout: .seconds(Self.attemptTimeout))
            metadata["status"] = "\(response.status.code)"
            _ = try? await response.body.collect(upTo: 64 * 1024)
            // §2.8: 200 (or any success) means the RP logged the session out.
            guard (200..<300).contains(response.status.code) else { throw Failure.status(Int(response.status.code)) }
            try await queue.finishBackchannelLogout(clientID: logout.clientID, sid: logout.sid)
            logger.info("back-channel logout delivered", metadata: metadata)
        } catch {
            metadata["error"] = "\(error)"
            let last = logout.attempt >= PendingBackchannelLogout.maximumAttempts
            logger.warning(last ? "back-channel logout failed; giving up" : "back-channel logout failed; will retry", metadata: metadata)
        }
    }

    enum Failure: Error, CustomStringConvertible {
        case status(Int)
        var description: String {
            switch self {
            case .status(let code): "the client answered HTTP \(code)"
            }
        }
    }
}
