import Foundation
import WardenMigrations
import WardenCore

/// `serve --demo`: clients and a user to try the server with, created once and kept.
public enum DemoSetup {
    /// What the demo prints.
    public struct Credentials: Codable, Sendable {
        public var clientID: String
        public var clientSecret: String
        public var scope: String
        public var audience: String
        public var publicClientID: String
        public var redirectURI: String
        public var username: String
        public var password: String
    }

    /// Creates the demo confidential client, public client and user unless they exist.
    /// Their secrets are kept in `demo-credentials.json` beside the database (mode 0600)
    /// so every demo start can print them: the demo is for a laptop, never for production.
    /// `redirectURI` is the demo client's: `/demo/callback` on this server, which serves it.
    public static func ensure(store: any Storage, directory: URL, redirectURI: String) async throws -> Credentials {
        try PrivateFiles.createDirectory(directory)
        let file = directory.appendingPathComponent("demo-credentials.json")
        if let data = FileManager.default.contents(atPath: file.path),
            let saved = try? JSONDecoder().decode(Credentials.self, from: data),
            try await store.client(id: saved.clientID) != nil,
            // A demo made before OpenID Connect is made again: its app would be refused `openid`.
            try await store.client(id: saved.publicClientID)?.scope.tokens.contains("openid") == true,
            try await store.user(username: saved.username) != nil, saved.redirectURI == redirectURI
        {
            return saved
        }
        let now = Date()
        let (backend, secret) = try ClientRegistration(
            name: "Demo backend", grantTypes: [.clientCredentials], scope: "demo:read demo:write",
            audiences: ["https://api.example.com"]
        ).makeClient(now: now)
        let (spa, _) = try ClientRegistration(
            name: "Demo app", grantTypes: [.authorizationCode, .refreshToken], redirectURIs: [redirectURI],
            scope: "openid profile email offline_access", authMethod: ClientAuthMethod.none
        ).makeClient(now: now)
        let username = "demo-\(RandomToken.identifier(byteCount: 2))"
        let password = RandomToken.make(byteCount: 12)
        let user = User(
            id: RandomToken.identifier(byteCount: 16), username: username,
            passwordHash: try await BcryptPasswordHasher().hash(password), createdAt: now,
            profile: UserProfile(
                name: "Demo User", givenName: "Demo", familyName: "User", email: "\(username)@example.com", emailVerified: true,
                updatedAt: now))
        try await store.insert(backend)
        try await store.insert(spa)
        try await store.insert(user)
        let credentials = Credentials(
            clientID: backend.id, clientSecret: secret?.value ?? "", scope: backend.scope.description,
            audience: backend.audiences.first ?? "", publicClientID: spa.id, redirectURI: redirectURI, username: username,
            password: password)
        try? FileManager.default.removeItem(at: file)
        do { try PrivateFiles.create(file.path, contents: try JSONEncoder().encode(credentials)) } catch {
            throw ConfigurationError("cannot write the demo credentials: \(error)")
        }
        return credentials
    }

    /// A PKCE verifier and its S256 challenge, for the printed authorization URL.
    public static func pkcePair() -> (verifier: String, challenge: String) {
        let verifier = RandomToken.make(byteCount: 32)
        return (verifier, PKCE.challenge(for: verifier))
    }
}
