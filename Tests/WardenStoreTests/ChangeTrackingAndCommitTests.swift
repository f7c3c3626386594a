import Foundation
import Testing
import WardenCore
import WardenMigrations
import WardenServer
import WardenSQLite

@Suite("Change counters, durability and group commit")
struct ChangeTrackingAndCommitTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func client(_ id: String) throws -> Client {
        var client = try ClientRegistration(name: id, grantTypes: [.clientCredentials], scope: "read").makeClient(now: now).client
        client.id = id
        return client
    }

    @Test("each kind of change bumps its own counter, and nothing else does", arguments: Backend.allCases)
    func counters(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let start = try await store.currentGenerations()
            #expect(try await store.currentGenerations() == start)
            try await store.insert(try client("a"))
            let afterInsert = try await store.currentGenerations()
            #expect(afterInsert.clients == start.clients + 1)
            #expect(afterInsert.revocations == start.revocations && afterInsert.signingKeys == start.signingKeys)

            try await store.revoke(jwtID: "jti-1", clientID: "a", expiresAt: now)
            let afterRevoke = try await store.currentGenerations()
            #expect(afterRevoke.revocations == afterInsert.revocations + 1 && afterRevoke.clients == afterInsert.clients)

            // A write that touches none of them leaves them alone.
            try await store.insert(User(id: "u1", username: "alice", passwordHash: "x", createdAt: now))
            #expect(try await store.currentGenerations() == afterRevoke)

            #expect(try await store.delete(clientID: "a"))
            #expect(try await store.currentGenerations().clients == afterRevoke.clients + 1)
        }
    }

    @Test("revoking a grant, and deleting one through its user, count as revocations", arguments: Backend.allCases)
    func grantRevocations(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            var spa = try ClientRegistration(
                name: "spa", grantTypes: [.authorizationCode], redirectURIs: ["http://127.0.0.1/cb"], scope: "read",
                authMethod: ClientAuthMethod.none
            ).makeClient(now: now).client
            spa.id = "spa"
            try await store.insert(spa)
            try await store.insert(User(id: "u1", username: "alice", passwordHash: "x", createdAt: now))
            for id in ["g1", "g2"] {
                let grant = GrantRecord(
                    id: id, clientID: "spa", userID: "u1", scope: Scope(tokens: ["read"]), audience: ["https://api"], createdAt: now,
                    expiresAt: now.addingTimeInterval(60))
                try await store.insert(
                    grant: grant,
                    code: AuthorizationCodeRecord(
                        digest: OpaqueToken.generate().digest, grant: grant, redirectURI: "http://127.0.0.1/cb", redirectURIExplicit: true,
                        codeChallenge: nil, codeChallengeMethod: nil, expiresAt: now.addingTimeInterval(60)))
            }
            let before = try await store.currentGenerations().revocations
            try await store.revokeGrant(id: "g1", at: now)
            #expect(try await store.currentGenerations().revocations == before + 1)
            // Revoking again changes nothing, so it counts nothing.
            try await store.revokeGrant(id: "g1", at: now)
            #expect(try await store.currentGenerations().revocations == before + 1)
            #expect(try await store.delete(username: "alice"))
            #expect(try await store.currentGenerations().revocations == before + 3)
        }
    }

    @Test("a change committed by another instance or the CLI is seen at once", arguments: Backend.allCases)
    func otherConnection(_ backend: Backend) async throws {
        try await withTemporaryDatabase(backend) { database in
            let configuration = WardenConfiguration.with(database: database)
            try await configuration.withStorage { store in
                // What the CLI or a second instance does: its own connections to the same database.
                try await configuration.withStorage { other in
                    let before = try await store.currentGenerations()
                    #expect(try await !other.retireSigningKey(kid: "none", at: now))  // no rows: nothing counts
                    #expect(try await !other.delete(clientID: "nobody"))
                    #expect(try await store.currentGenerations() == before)
                    try await other.insert(try client("cli"))
                    #expect(try await store.currentGenerations().clients == before.clients + 1)
                    #expect(try await store.client(id: "cli") != nil)
                    try await other.revoke(jwtID: "jti-cli", clientID: "cli", expiresAt: now)
                    #expect(try await store.currentGenerations().revocations == before.revocations + 1)
                    #expect(try await store.isRevoked(jwtID: "jti-cli"))
                }
            }
        }
    }

    @Test("durability full runs SQLite with synchronous = FULL, normal with NORMAL", arguments: Durability.allCases)
    func durability(_ durability: Durability) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-sync-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("w.sqlite").path, durability: durability)
        defer { try? store.close() }
        // SQLite: 1 is NORMAL, 2 is FULL.
        #expect(try store.synchronousLevel() == (durability == .full ? 2 : 1))
    }

    @Test("200 concurrent writes all commit; a failing one rolls back alone", arguments: Backend.allCases)
    func groupCommit(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            try await store.insert(try client("taken"))
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        do {
                            // Every 50th reuses an existing id: a constraint failure inside the batch.
                            try await store.insert(try client(index % 50 == 0 ? "taken" : "c\(index)"))
                            return true
                        } catch {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 196)
            #expect(try await rows("clients", in: store).count == 197)
        }
    }

    @Test("close finishes the writes it accepted and refuses later ones: none is lost, none waits forever")
    func writesAroundClose() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-close-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("w.sqlite").path
        let store = try SQLiteStore(path: path)
        let writes = (0..<50).map { index in Task { try await store.insert(try client("c\(index)")) } }
        try store.close()
        var committed = 0
        for write in writes {
            do {
                try await write.value
                committed += 1
            } catch is StoreError {}
        }
        await #expect(throws: StoreError.self) { try await store.insert(try client("late")) }
        let reopened = try SQLiteStore(path: path)
        defer { try? reopened.close() }
        #expect(try await rows("clients", in: reopened).count == committed)
    }
}
