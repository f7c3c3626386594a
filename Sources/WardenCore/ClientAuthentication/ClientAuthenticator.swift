import Foundation

/// Checks presented client credentials against the registered client (RFC 6749 §2.3),
/// limiting failures per client id and per address (SECURITY.md).
public struct ClientAuthenticator: Sendable {
    let clients: any ClientRepository
    let failuresPerClient: FailureRateLimiter
    let failuresPerAddress: FailureRateLimiter
    let clock: any WardenClock

    /// Makes an authenticator; by default 10 failures a minute per client id, 100 per address.
    public init(
        clients: any ClientRepository, failuresPerClient: FailureRateLimiter = FailureRateLimiter(limit: 10),
        failuresPerAddress: FailureRateLimiter = FailureRateLimiter(limit: 100), clock: any WardenClock = SystemClock()
    ) {
        self.clients = clients
        self.failuresPerClient = failuresPerClient
        self.failuresPerAddress = failuresPerAddress
        self.clock = clock
    }

    /// The authenticated client, or `invalid_client`. The error does not say whether
    /// the client is unknown, used another method, or gave a wrong secret. After too
    /// many failures for this client id or address: `slow_down` until they age out.
    public func authenticate(_ presented: PresentedClientCredentials, address: String? = nil) async throws -> Client {
        let now = clock.now()
        let addressKey = address ?? "unknown"
        if let wait = failuresPerClient.retryAfter(presented.clientID, now: now) ?? failuresPerAddress.retryAfter(addressKey, now: now) {
            throw OAuthError.rateLimited(retryAfter: wait)
        }
        do {
            return try await check(presented)
        } catch let error as OAuthError where error.code == .invalidClient {
            failuresPerClient.recordFailure(presented.clientID, now: now)
            failuresPerAddress.recordFailure(addressKey, now: now)
            throw error
        }
    }

    /// Reads the credentials of a request (Authorization header and form) and authenticates them.
    public func authenticate(authorization: String?, form: FormBody, address: String?) async throws -> Client {
        try await authenticate(PresentedClientCredentials.parse(authorization: authorization, form: form), address: address)
    }

    private func check(_ presented: PresentedClientCredentials) async throws -> Client {
        guard let client = try await clients.client(id: presented.clientID) else {
            throw OAuthError.invalidClient(cause: "unknown client")
        }
        guard client.authMethod == presented.method else {
            throw OAuthError.invalidClient(cause: "client used \(presented.method.rawValue), registered for \(client.authMethod.rawValue)")
        }
        switch presented {
        case .basic(_, let secret), .post(_, let secret):
            guard let digest = client.secretDigest, digest.matches(secret) else {
                throw OAuthError.invalidClient(cause: "wrong secret")
            }
        case .none:
            break
        }
        return client
    }
}
