/// Where clients are kept. One implementation per storage backend.
public protocol ClientRepository: Sendable {
    /// The client with this id, or nil.
    func client(id: String) async throws -> Client?
    /// Every client, oldest first.
    func allClients() async throws -> [Client]
    /// Stores a new client; fails if the id exists.
    func insert(_ client: Client) async throws
    /// Replaces a client's secret digest; false when there is no such client.
    func updateSecret(clientID: String, digest: ClientSecretDigest) async throws -> Bool
    /// Replaces a `private_key_jwt` client's keys (one of the two is set); false when
    /// there is no such client or it authenticates otherwise.
    func updateKeys(clientID: String, jwks: String?, jwksURI: String?) async throws -> Bool
    /// Removes a client; false when there is no such client.
    func delete(clientID: String) async throws -> Bool
    /// RFC 7592: replaces everything registered about the client `client.id` (its name,
    /// methods, URIs, keys, secret digest, metadata and registration access token digest)
    /// with `client`'s, if its current registration access token digest is `presented`;
    /// false, and nothing changed, otherwise. One step, so of two updates with one token one wins.
    func replaceRegisteredClient(_ client: Client, presented: [UInt8]) async throws -> Bool
    /// Stores the client a Client ID Metadata Document describes, or replaces it with what
    /// the document says now; never a client of another origin with the same id. Its
    /// grants and consents refer to it like any other's.
    func saveMetadataDocumentClient(_ client: Client) async throws
    /// RFC 7592: removes the client if its registration access token digest is `presented`.
    func deleteRegisteredClient(id: String, presented: [UInt8]) async throws -> Bool
}
