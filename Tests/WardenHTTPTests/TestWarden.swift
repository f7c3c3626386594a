import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import WardenCore
import WardenMigrations
import WardenServer
import WardenSQLite
import WardenTokens

/// The real application on a temporary SQLite file, driven in-process.
struct TestWarden {
    static let issuer = "http://warden.test"
    let store: SQLiteStore
    let directory: URL

    /// Runs `body` against a freshly built application.
    static func run(
        configure: (inout WardenConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (TestWarden, any TestClientProtocol) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-http-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = WardenConfiguration()
        configuration.issuer = issuer
        configuration.database = directory.appendingPathComponent("warden.sqlite").path
        configure(&configuration)
        let store = try SQLiteStore(path: configuration.database, durability: configuration.databaseDurability)
        defer { try? store.close() }
        var logger = Logger(label: "warden-test")
        logger.logLevel = .warning
        let app = try await buildApplication(
            configuration: configuration, store: store, keyEncryptionKey: KeyEncryptionKey.generate().key, logger: logger)
        let warden = TestWarden(store: store, directory: directory)
        try await app.test(.router) { client in try await body(warden, client) }
    }

    /// Registers a client and returns it with its secret.
    func register(
        grantTypes: [GrantType] = [.clientCredentials], scope: String = "invoices:read invoices:write",
        audiences: [String] = ["https://api.example.com"], method: ClientAuthMethod? = nil
    ) async throws -> (id: String, secret: String) {
        let (client, secret) = try ClientRegistration(
            name: "test", grantTypes: grantTypes, redirectURIs: grantTypes.contains(.authorizationCode) ? ["http://127.0.0.1/cb"] : [],
            scope: scope, audiences: audiences, authMethod: method
        ).makeClient(now: Date())
        try await store.insert(client)
        return (client.id, secret?.value ?? "")
    }
}

/// HTTP helpers for form posts and JSON bodies.
extension TestClientProtocol {
    @discardableResult
    func post(_ path: String, form: String, basic: (String, String)? = nil, contentType: String? = "application/x-www-form-urlencoded")
        async throws -> TestResponse
    {
        var headers = HTTPFields()
        if let contentType { headers[.contentType] = contentType }
        if let (id, secret) = basic { headers[.authorization] = "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString() }
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: form))
    }
}

extension TestResponse {
    /// The body as a JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
    }

    var oauthError: String? { json["error"] as? String }
}
