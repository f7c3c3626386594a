/// The clients the server knows: those registered (through `stored`), and, for a client
/// id that is a document URL, the client its metadata document describes now. Those are
/// stored too, as the document last said, so that grants and consents can refer to them,
/// but read from the document (or its cache), never from the store.
public struct MetadataDocumentClients: ClientRepository {
    let stored: any ClientRepository
    let documents: ClientIDMetadataDocuments
    let allowHTTP: Bool

    public init(stored: any ClientRepository, documents: ClientIDMetadataDocuments, allowHTTP: Bool) {
        self.stored = stored
        self.documents = documents
        self.allowHTTP = allowHTTP
    }

    /// A registered client first: an operator may register a URL-shaped id on purpose.
    public func client(id: String) async throws -> Client? {
        if let client = try await stored.client(id: id), !client.fromMetadataDocument { return client }
        guard ClientIDMetadataDocuments.isDocumentURL(id, allowHTTP: allowHTTP) else { return nil }
        return try await documents.client(url: id)
    }

    public func allClients() async throws -> [Client] { try await stored.allClients() }
    public func insert(_ client: Client) async throws { try await stored.insert(client) }
    public func updateSecret(clientID: String, digest: ClientSecretDigest) async throws -> Bool {
        try await stored.updateSecret(clientID: clientID, digest: digest)
    }
    public func updateKeys(clientID: String, jwks: String?, jwksURI: String?) async throws -> Bool {
        try await stored.updateKeys(clientID: clientID, jwks: jwks, jwksURI: jwksURI)
    }
    public func delete(clientID: String) async throws -> Bool { try await stored.delete(clientID: clientID) }
    public func replaceRegisteredClient(_ client: Client, presented: [UInt8]) async throws -> Bool {
        try await stored.replaceRegisteredClient(client, presented: presented)
    }
    public func saveMetadataDocumentClient(_ client: Client) async throws { try await stored.saveMetadataDocumentClient(client) }
    public func deleteRegisteredClient(id: String, presented: [UInt8]) async throws -> Bool {
        try await stored.deleteRegisteredClient(id: id, presented: presented)
    }
}
