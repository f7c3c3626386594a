import Foundation
import Synchronization
import WardenCore
import WardenTestSupport

/// Hand-written in-memory stand-ins for the storage and signing protocols.
final class InMemoryClients: ClientRepository {
    let clients = Mutex<[String: Client]>([:])
    /// Bumped by every change, like the store's client generation.
    let changes = Mutex<Int64>(0)

    init(_ clients: [Client] = []) {
        for client in clients { self.clients.withLock { $0[client.id] = client } }
    }

    func client(id: String) async throws -> Client? { clients.withLock { $0[id] } }
    func allClients() async throws -> [Client] { clients.withLock { Array($0.values) } }
    func insert(_ client: Client) async throws {
        clients.withLock { $0[client.id] = client }
        changes.withLock { $0 += 1 }
    }
    func updateKeys(clientID: String, jwks: String?, jwksURI: String?) async throws -> Bool {
        changes.withLock { $0 += 1 }
        return clients.withLock { clients in
            guard clients[clientID]?.authMethod == .privateKeyJWT else { return false }
            clients[clientID]?.jwks = jwks
            clients[clientID]?.jwksURI = jwksURI
            return true
        }
    }

    func updateSecret(clientID: String, digest: ClientSecretDigest) async throws -> Bool {
        changes.withLock { $0 += 1 }
        return clients.withLock { clients in
            guard clients[clientID] != nil else { return false }
            clients[clientID]?.secretDigest = digest
            return true
        }
    }
    func delete(clientID: String) async throws -> Bool {
        changes.withLock { $0 += 1 }
        return clients.withLock { $0.removeValue(forKey: clientID) != nil }
    }
    func replaceRegisteredClient(_ client: Client, presented: [UInt8]) async throws -> Bool {
        changes.withLock { $0 += 1 }
        return clients.withLock { clients in
            guard clients[client.id]?.registrationAccessTokenDigest == presented else { return false }
            clients[client.id] = client
            return true
        }
    }
    func saveMetadataDocumentClient(_ client: Client) async throws {
        changes.withLock { $0 += 1 }
        clients.withLock { clients in if clients[client.id]?.fromMetadataDocument != false { clients[client.id] = client } }
    }
    func deleteRegisteredClient(id: String, presented: [UInt8]) async throws -> Bool {
        changes.withLock { $0 += 1 }
        return clients.withLock { clients in
            guard clients[id]?.registrationAccessTokenDigest == presented else { return false }
            return clients.removeValue(forKey: id) != nil
        }
    }
}

final class InMemoryRevocations: RevocationRepository {
    let revoked = Mutex<[String: Date]>([:])
    func revoke(jwtID: String, clientID: String, expiresAt: Date) async throws { revoked.withLock { $0[jwtID] = expiresAt } }
    var generation: Int64 { revoked.withLock { Int64($0.count) } }
    func isRevoked(jwtID: String) async throws -> Bool { revoked.withLock { $0[jwtID] != nil } }
    func purgeRevocations(expiredBefore date: Date, limit: Int) async throws -> Int { 0 }
}

/// The generations the fakes' own change counts make, as the store's triggers would.
struct InMemoryChanges: ChangeTracking {
    let clients: InMemoryClients
    let revocations: InMemoryRevocations
    let grants: InMemoryGrants

    func currentGenerations() throws -> ChangeGenerations {
        ChangeGenerations(
            clients: clients.changes.withLock { $0 }, revocations: revocations.generation + grants.revocationCount, signingKeys: 0)
    }
}

/// "Signs" by remembering the claims under a random handle.
final class RecordingSigner: AccessTokenSigner, AccessTokenVerifier {
    let issued = Mutex<[String: AccessTokenClaims]>([:])
    func sign(_ claims: AccessTokenClaims) async throws -> String {
        let token = "token-" + RandomToken.make(byteCount: 8)
        issued.withLock { $0[token] = claims }
        return token
    }
    /// How many times `verify` ran.
    let verifications = Mutex(0)
    func verify(_ token: String) async -> AccessTokenClaims? {
        verifications.withLock { $0 += 1 }
        return issued.withLock { $0[token] }
    }
}

/// A clock the test moves.
final class MovableClock: WardenClock {
    let date = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    func now() -> Date { date.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { date.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

struct FixedClock: WardenClock {
    var date: Date
    func now() -> Date { date }
}

extension Client {
    /// A confidential client-credentials client and its secret.
    static func confidential(
        id: String = "billing", method: ClientAuthMethod = .clientSecretBasic, scope: String = "invoices:read invoices:write",
        audiences: [String] = ["https://api.example.com"]
    ) -> (Client, ClientSecret) {
        let secret = ClientSecret.generate()
        let client = Client(
            id: id, name: id, secretDigest: secret.digest, authMethod: method, grantTypes: [.clientCredentials],
            redirectURIs: [], scope: Scope(tokens: scope.split(separator: " ").map(String.init)), audiences: audiences,
            skipConsent: false, pkceOptional: false, createdAt: Date(timeIntervalSince1970: 0))
        return (client, secret)
    }
}

func basic(_ id: String, _ secret: String) -> String {
    "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()
}

/// Users by username.
final class InMemoryUsers: UserRepository {
    let users = Mutex<[String: User]>([:])
    init(_ users: User...) { for user in users { self.users.withLock { $0[user.username] = user } } }
    func user(username: String) async throws -> User? { users.withLock { $0[username] } }
    func user(id: String) async throws -> User? { users.withLock { $0.values.first { $0.id == id } } }
    func allUsers() async throws -> [User] { users.withLock { Array($0.values) } }
    func insert(_ user: User) async throws { users.withLock { $0[user.username] = user } }
    func updatePasswordHash(username: String, hash: String, at now: Date) async throws -> Bool {
        users.withLock { users in
            guard users[username] != nil else { return false }
            users[username]?.passwordHash = hash
            return true
        }
    }
    func updateProfile(username: String, _ profile: UserProfile) async throws -> Bool {
        users.withLock { users in
            guard users[username] != nil else { return false }
            users[username]?.profile = profile
            return true
        }
    }
    func delete(username: String) async throws -> Bool { users.withLock { $0.removeValue(forKey: username) != nil } }
}

/// Spent identifiers, pushed requests and secrets in memory.
final class InMemoryProofs: ProofOfPossessionRepository {
    let spent = Mutex<[[UInt8]: Date]>([:])
    let pushed = Mutex<[[UInt8]: PushedAuthorizationRequest]>([:])
    let secrets = Mutex<[String: [UInt8]]>([:])

    func spendJTI(digest: [UInt8], kind: UsedJTIKind, expiresAt: Date, now: Date) async throws -> Bool {
        spent.withLock { spent in
            if let until = spent[digest], until >= now { return false }
            spent[digest] = expiresAt
            return true
        }
    }
    func insertPushedRequest(_ request: PushedAuthorizationRequest) async throws { pushed.withLock { $0[request.digest] = request } }
    func pushedRequest(digest: [UInt8], now: Date) async throws -> PushedAuthorizationRequest? {
        pushed.withLock { $0[digest].flatMap { $0.expiresAt > now ? $0 : nil } }
    }
    func consumePushedRequest(digest: [UInt8]) async throws -> Bool { pushed.withLock { $0.removeValue(forKey: digest) != nil } }
    func serverSecret(name: String, make: @Sendable () -> [UInt8]) async throws -> [UInt8] {
        secrets.withLock { secrets in
            if let secret = secrets[name] { return secret }
            secrets[name] = make()
            return secrets[name]!
        }
    }
    func purgeExpiredProofs(before now: Date, limit: Int) async throws -> Int { 0 }
}
