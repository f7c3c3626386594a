import Foundation
import Synchronization
import Testing
import WardenCore
import WardenTestSupport

@Suite("Introspection and revocation")
struct IntrospectionRevocationTests {
    struct World {
        let clients: InMemoryClients
        let revocations = InMemoryRevocations()
        let signer = RecordingSigner()
        let grants = InMemoryGrants()
        let introspection: IntrospectionEndpoint
        let revocation: RevocationEndpoint

        init(_ clients: [Client]) {
            self.clients = InMemoryClients(clients)
            let authenticator = ClientAuthenticator(clients: self.clients)
            introspection = IntrospectionEndpoint(
                authenticator: authenticator, verifier: signer, revocations: revocations, clients: self.clients, grants: grants,
                changes: InMemoryChanges(clients: self.clients, revocations: revocations, grants: grants), clock: SystemClock())
            revocation = RevocationEndpoint(
                authenticator: authenticator, verifier: signer, revocations: revocations, grants: grants, clock: SystemClock())
        }

        func token(for client: Client) async throws -> String {
            try await signer.sign(AccessTokenClaims(
                issuer: "https://issuer", subject: client.id, audience: ["https://api"], clientID: client.id,
                scope: client.scope, issuedAt: Date(), expiresAt: Date().addingTimeInterval(60), jwtID: RandomToken.make(byteCount: 8)))
        }
    }

    @Test("a live token is active with its claims")
    func active() async throws {
        let (client, secret) = Client.confidential()
        let world = World([client])
        let token = try await world.token(for: client)
        let (_, response, _) = try await world.introspection.introspect(form: FormBody(["token": token]), authorization: basic(client.id, secret.value))
        #expect(response.active)
        #expect(response.clientID == client.id)
        #expect(response.scope == client.scope.description)
        #expect(response.tokenType == "Bearer")
    }

    @Test("an introspection reads the change counters once, its client lookups included")
    func countersReadOnce() async throws {
        let (client, secret) = Client.confidential()
        let (clients, revocations, grants, signer) = (InMemoryClients([client]), InMemoryRevocations(), InMemoryGrants(), RecordingSigner())
        let changes = CountingChanges(InMemoryChanges(clients: clients, revocations: revocations, grants: grants))
        let cache = ClientCache(store: clients, changes: changes)
        let introspection = IntrospectionEndpoint(
            authenticator: ClientAuthenticator(clients: cache), verifier: signer, revocations: revocations, clients: cache, grants: grants,
            changes: changes, clock: SystemClock())
        let own = try await signer.sign(AccessTokenClaims(
            issuer: "https://issuer", subject: client.id, audience: ["https://api"], clientID: client.id, scope: client.scope,
            issuedAt: Date(), expiresAt: Date().addingTimeInterval(60), jwtID: "j"))
        for _ in 0..<2 {
            let before = changes.reads.withLock { $0 }
            let (_, response, _) = try await introspection.introspect(form: FormBody(["token": own]), authorization: basic(client.id, secret.value))
            #expect(response.active)
            #expect(changes.reads.withLock { $0 } - before == 1)
        }
    }

    @Test("unknown tokens are inactive")
    func unknown() async throws {
        let (client, secret) = Client.confidential()
        let (_, response, _) = try await World([client]).introspection.introspect(
            form: FormBody(["token": "garbage"]), authorization: basic(client.id, secret.value))
        #expect(response == .inactive)
    }

    @Test("a live token is verified once, then answered from the cache while nothing changes")
    func cached() async throws {
        let (client, secret) = Client.confidential()
        let world = World([client])
        let token = try await world.token(for: client)
        for round in 0..<3 {
            let (_, response, cached) = try await world.introspection.introspect(form: FormBody(["token": token]), authorization: basic(client.id, secret.value))
            #expect(response.active)
            #expect(cached == (round > 0))
        }
        #expect(world.signer.verifications.withLock { $0 } == 1)
        // Any revocation (even of another token) empties what the cache may answer.
        try await world.revocations.revoke(jwtID: "other", clientID: client.id, expiresAt: Date().addingTimeInterval(60))
        let (_, response, cached) = try await world.introspection.introspect(form: FormBody(["token": token]), authorization: basic(client.id, secret.value))
        #expect(response.active)
        #expect(!cached)
        #expect(world.signer.verifications.withLock { $0 } == 2)
    }

    @Test("revoking its own token makes it inactive at once, even after it was introspected")
    func revokeOwn() async throws {
        let (client, secret) = Client.confidential()
        let world = World([client])
        let token = try await world.token(for: client)
        let (_, before, _) = try await world.introspection.introspect(form: FormBody(["token": token]), authorization: basic(client.id, secret.value))
        #expect(before.active)
        let (_, revoked) = try await world.revocation.revoke(form: FormBody(["token": token]), authorization: basic(client.id, secret.value))
        #expect(revoked == .accessToken(subject: client.id))
        let (_, response, _) = try await world.introspection.introspect(form: FormBody(["token": token]), authorization: basic(client.id, secret.value))
        #expect(!response.active)
    }

    @Test("another client's token is refused and stays active")
    func revokeOthers() async throws {
        let (owner, ownerSecret) = Client.confidential(id: "owner")
        let (other, otherSecret) = Client.confidential(id: "other")
        let world = World([owner, other])
        let token = try await world.token(for: owner)
        let error = await #expect(throws: OAuthError.self) {
            try await world.revocation.revoke(form: FormBody(["token": token]), authorization: basic(other.id, otherSecret.value))
        }
        #expect(error?.code == .unauthorizedClient)
        let (_, response, _) = try await world.introspection.introspect(form: FormBody(["token": token]), authorization: basic(owner.id, ownerSecret.value))
        #expect(response.active)
    }

    @Test("a token of a deleted client is inactive")
    func deletedClient() async throws {
        let (owner, _) = Client.confidential(id: "owner")
        let (rs, rsSecret) = Client.confidential(id: "resource-server")
        let world = World([owner, rs])
        let token = try await world.token(for: owner)
        let (_, before, _) = try await world.introspection.introspect(form: FormBody(["token": token]), authorization: basic(rs.id, rsSecret.value))
        #expect(before.active)
        _ = try await world.clients.delete(clientID: owner.id)
        let (_, response, _) = try await world.introspection.introspect(form: FormBody(["token": token]), authorization: basic(rs.id, rsSecret.value))
        #expect(!response.active)
    }

    @Test("unknown tokens revoke with success")
    func revokeUnknown() async throws {
        let (client, secret) = Client.confidential()
        let world = World([client])
        let (_, revoked) = try await world.revocation.revoke(form: FormBody(["token": "nope"]), authorization: basic(client.id, secret.value))
        #expect(revoked == .nothing)
        #expect(world.revocations.revoked.withLock { $0.isEmpty })
    }

    @Test("a missing token is invalid_request")
    func missingToken() async throws {
        let (client, secret) = Client.confidential()
        let world = World([client])
        let error = await #expect(throws: OAuthError.self) {
            try await world.introspection.introspect(form: FormBody([:]), authorization: basic(client.id, secret.value))
        }
        #expect(error?.code == .invalidRequest)
    }

    @Test("public clients may not introspect")
    func publicClientsCannotIntrospect() async throws {
        let spa = Client(
            id: "spa", name: "spa", secretDigest: nil, authMethod: .none, grantTypes: [.authorizationCode],
            redirectURIs: ["http://127.0.0.1/cb"], scope: .empty, audiences: [], skipConsent: false, pkceOptional: false,
            createdAt: Date())
        let error = await #expect(throws: OAuthError.self) {
            try await World([spa]).introspection.introspect(form: FormBody(["client_id": "spa", "token": "x"]), authorization: nil)
        }
        #expect(error?.code == .invalidClient)
    }
}

/// Counts how often the change counters are read.
final class CountingChanges: ChangeTracking {
    let inner: any ChangeTracking
    let reads = Mutex(0)
    init(_ inner: any ChangeTracking) { self.inner = inner }
    func currentGenerations() async throws -> ChangeGenerations {
        reads.withLock { $0 += 1 }
        return try await inner.currentGenerations()
    }
}
