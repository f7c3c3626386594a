import Foundation
import WardenCore
import WardenStore

/// `serve --demo`: a demo client to try the server with, created once and kept.
public enum DemoSetup {
    /// What the demo prints.
    public struct Credentials: Codable, Sendable {
        public var clientID: String
        public var clientSecret: String
        public var scope: String
        public var audience: String
    }

    static let clientName = "demo-backend"

    /// Creates the demo confidential client unless it exists. Its secret is kept in
    /// `demo-credentials.json` beside the database (mode 0600) so every demo start can
    /// print it: the demo is for a laptop, never for production.
    public static func ensureClients(store: SQLiteStore, databasePath: String) async throws -> Credentials {
        let file = URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("demo-credentials.json")
        if let data = FileManager.default.contents(atPath: file.path),
            let saved = try? JSONDecoder().decode(Credentials.self, from: data),
            try await store.client(id: saved.clientID) != nil
        {
            return saved
        }
        let registration = ClientRegistration(
            name: clientName, grantTypes: [.clientCredentials], scope: "demo:read demo:write",
            audiences: ["https://api.example.com"])
        let (client, secret) = try registration.makeClient(now: Date())
        try await store.insert(client)
        let credentials = Credentials(
            clientID: client.id, clientSecret: secret?.value ?? "", scope: client.scope.description,
            audience: client.audiences.first ?? "")
        guard FileManager.default.createFile(atPath: file.path, contents: try JSONEncoder().encode(credentials), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("cannot write \(file.path)")
        }
        return credentials
    }
}
