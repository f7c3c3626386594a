import Foundation

/// Checks presented client credentials against the registered client (RFC 6749 §2.3),
/// limiting failures per client id from one address (tight) and per address (loose).
/// Client ids are public, so failures never lock a client out for other addresses,
/// and correct credentials are never refused for someone else's failures: a secret of
/// 256 bits is not guessed, so the limit guards against floods, not against guessing.
public struct ClientAuthenticator: Sendable {
    let clients: any ClientRepository
    let failuresPerClient: FailureRateLimiter
    let failuresPerAddress: FailureRateLimiter
    let clock: any WardenClock
    let assertions: ClientAssertionVerifier?

    /// Makes an authenticator; by default 10 failures a minute per client id and address, 100 per address.
    /// Without `assertions`, `private_key_jwt` clients cannot authenticate.
    public init(
        clients: any ClientRepository, failuresPerClient: FailureRateLimiter = FailureRateLimiter(limit: 10),
        failuresPerAddress: FailureRateLimiter = FailureRateLimiter(limit: 100), clock: any WardenClock = SystemClock(),
        assertions: ClientAssertionVerifier? = nil
    ) {
        self.assertions = assertions
        self.clients = clients
        self.failuresPerClient = failuresPerClient
        self.failuresPerAddress = failuresPerAddress
        self.clock = clock
    }

    /// The authenticated client, or `invalid_client`. The error does not say whether
    /// the client is unknown, used another method, or gave a wrong secret. Past the
    /// limit of failures for this client id from this address, or for this address:
    /// `slow_down` until they age out.
    /// `endpoint`: the path of the endpoint asked (`/token`), which an assertion's `aud` may name.
    public func authenticate(_ presented: PresentedClientCredentials, address: String? = nil, endpoint: String = "/token") async throws -> Client {
        do {
            return try await withChildSpan("client authentication", attribute: ("warden.client_authentication.method", presented.method.rawValue)) {
                try await check(presented, endpoint: endpoint)
            }
        } catch var error as OAuthError where error.code == .invalidClient {
            error.clientAuthenticationMethod = presented.method
            let addressKey = address ?? "unknown"
            let limits = FailureLimits([(failuresPerClient, "\(presented.clientID) \(addressKey)"), (failuresPerAddress, addressKey)])
            if let wait = try await limits.admit(now: clock.now()) { throw OAuthError.rateLimited(retryAfter: wait) }
            throw error
        }
    }


    /// Reads the credentials of a request (Authorization header and form) and authenticates them.
    public func authenticate(authorization: String?, form: FormBody, address: String?, endpoint: String = "/token") async throws -> Client {
        try await authenticate(PresentedClientCredentials.parse(authorization: authorization, form: form), address: address, endpoint: endpoint)
    }

    private func check(_ presented: PresentedClientCredentials, endpoint: String) async throws -> Client {
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
        case .privateKeyJWT(_, let assertion):
            guard let assertions else { throw OAuthError.invalidClient(cause: "private_key_jwt is not set up") }
            try await assertions.verify(assertion, client: client, endpoint: endpoint)
        case .none:
            break
        }
        return client
    }
}
