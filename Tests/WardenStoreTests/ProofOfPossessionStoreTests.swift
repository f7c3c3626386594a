import Foundation
import Testing
import WardenCore
import WardenServer

@Suite("Spent identifiers, pushed requests and server secrets in SQL storage")
struct ProofOfPossessionStoreTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func digest() -> [UInt8] { UsedJTIKind.clientAssertion.digest(issuer: "svc", jti: UUID().uuidString) }

    @Test("a jti is spent once until it expires, then may be spent again", arguments: Backend.allCases)
    func spendOnce(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let jti = digest()
            let expiry = now.addingTimeInterval(60)
            let first = try await store.spendJTI(digest: jti, kind: .clientAssertion, expiresAt: expiry, now: now)
            let replay = try await store.spendJTI(digest: jti, kind: .clientAssertion, expiresAt: expiry, now: now.addingTimeInterval(59))
            let afterExpiry = try await store.spendJTI(digest: jti, kind: .dpopProof, expiresAt: expiry + 60, now: expiry + 1)
            #expect(first && !replay && afterExpiry)
        }
    }

    @Test("of concurrent spends of one jti exactly one wins", arguments: Backend.allCases)
    func race(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let jti = digest()
            let (expiry, now) = (now.addingTimeInterval(60), now)
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<16 { group.addTask { try await store.spendJTI(digest: jti, kind: .dpopProof, expiresAt: expiry, now: now) } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
        }
    }

    @Test("a pushed request is read until it expires and consumed once; its client's deletion takes it", arguments: Backend.allCases)
    func pushed(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, _) = try ClientRegistration(name: "app", grantTypes: [.clientCredentials]).makeClient(now: now)
            try await store.insert(client)
            let request = PushedAuthorizationRequest(
                digest: digest(), clientID: client.id, parameters: "client_id=\(client.id)&response_type=code",
                expiresAt: now.addingTimeInterval(60))
            try await store.insertPushedRequest(request)
            #expect(try await store.pushedRequest(digest: request.digest, now: now) == request)
            #expect(try await store.pushedRequest(digest: request.digest, now: now.addingTimeInterval(60)) == nil)
            #expect(try await store.consumePushedRequest(digest: request.digest))
            #expect(try await !store.consumePushedRequest(digest: request.digest))
            #expect(try await store.pushedRequest(digest: request.digest, now: now) == nil)

            let other = PushedAuthorizationRequest(digest: digest(), clientID: client.id, parameters: "x=1", expiresAt: now.addingTimeInterval(60))
            try await store.insertPushedRequest(other)
            #expect(try await store.delete(clientID: client.id))
            #expect(try await !store.consumePushedRequest(digest: other.digest))
        }
    }

    @Test("the purge removes expired identifiers and pushed requests, in batches", arguments: Backend.allCases)
    func purge(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (client, _) = try ClientRegistration(name: "app", grantTypes: [.clientCredentials]).makeClient(now: now)
            try await store.insert(client)
            for _ in 0..<3 { _ = try await store.spendJTI(digest: digest(), kind: .clientAssertion, expiresAt: now, now: now) }
            let live = digest()
            _ = try await store.spendJTI(digest: live, kind: .clientAssertion, expiresAt: now.addingTimeInterval(600), now: now)
            try await store.insertPushedRequest(.init(digest: digest(), clientID: client.id, parameters: "a=b", expiresAt: now))
            let later = now.addingTimeInterval(1)
            #expect(try await store.purgeExpiredProofs(before: later, limit: 2) == 3)
            #expect(try await store.purgeExpiredProofs(before: later, limit: 2) == 1)
            #expect(try await store.purgeExpiredProofs(before: later, limit: 2) == 0)
            #expect(try await !store.spendJTI(digest: live, kind: .clientAssertion, expiresAt: now.addingTimeInterval(600), now: later))
        }
    }

    @Test("every caller gets the first secret stored under a name", arguments: Backend.allCases)
    func secret(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let first = try await store.serverSecret(name: "dpop_nonce") { Array(repeating: 1, count: 32) }
            let second = try await store.serverSecret(name: "dpop_nonce") { Array(repeating: 2, count: 32) }
            #expect(first == Array(repeating: 1, count: 32))
            #expect(second == first)
        }
    }

    @Test("a private_key_jwt client keeps its keys and flags; updateKeys replaces them, and only for such a client", arguments: Backend.allCases)
    func clientKeys(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            var registration = ClientRegistration(name: "svc", grantTypes: [.clientCredentials], authMethod: .privateKeyJWT)
            registration.jwksURI = "https://svc.example/jwks"
            registration.dpopBoundAccessTokens = true
            registration.requirePushedAuthorizationRequests = true
            let (client, secret) = try registration.makeClient(now: now)
            #expect(secret == nil)
            try await store.insert(client)
            #expect(try await store.client(id: client.id) == client)
            #expect(try await store.updateKeys(clientID: client.id, jwks: #"{"keys":[]}"#, jwksURI: nil))
            let updated = try #require(try await store.client(id: client.id))
            #expect(updated.jwks == #"{"keys":[]}"# && updated.jwksURI == nil)
            let (secretClient, _) = try ClientRegistration(name: "basic", grantTypes: [.clientCredentials]).makeClient(now: now)
            try await store.insert(secretClient)
            #expect(try await !store.updateKeys(clientID: secretClient.id, jwks: nil, jwksURI: "https://x.example/jwks"))
            #expect(try await !store.updateSecret(clientID: client.id, digest: ClientSecret.generate().digest))
        }
    }
}
