/// Checks presented client credentials against the registered client (RFC 6749 §2.3).
public struct ClientAuthenticator: Sendable {
    let clients: any ClientRepository

    /// Makes an authenticator over a client repository.
    public init(clients: any ClientRepository) { self.clients = clients }

    /// The authenticated client, or `invalid_client`. The error does not say whether
    /// the client is unknown, used another method, or gave a wrong secret.
    public func authenticate(_ presented: PresentedClientCredentials) async throws -> Client {
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
