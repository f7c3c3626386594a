import Foundation
import GRDB
import Testing
import WardenCore
import WardenStore

@Suite("Change counters, durability and group commit")
struct ChangeTrackingAndCommitTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func client(_ id: String) throws -> Client {
        var client = try ClientRegistration(name: id, grantTypes: [.clientCredentials], scope: "read").makeClient(now: now).client
        client.id = id
        return client
    }

    @Test("each kind of change bumps its own counter, and nothing else does")
    func counters() async throws {
        try await withTemporaryStore { store, _ in
            let start = try store.currentGenerations()
            #expect(try store.currentGenerations() == start)
            try await store.insert(try client("a"))
            let afterInsert = try store.currentGenerations()
            #expect(afterInsert.clients == start.clients + 1)
            #expect(afterInsert.revocations == start.revocations && afterInsert.signingKeys == start.signingKeys)

            try await store.revoke(jwtID: "jti-1", clientID: "a", expiresAt: now)
            let afterRevoke = try store.currentGenerations()
            #expect(afterRevoke.revocations == afterInsert.revocations + 1 && afterRevoke.clients == afterInsert.clients)

            // A write that touches none of them leaves them alone.
            try await store.insert(User(id: "u1", username: "alice", passwordHash: "x", createdAt: now))
            #expect(try store.currentGenerations() == afterRevoke)

            #expect(try await store.delete(clientID: "a"))
            #expect(try store.currentGenerations().clients == afterRevoke.clients + 1)
        }
    }

    @Test("revoking a grant, and deleting one through its user, count as revocations")
    func grantRevocations() async throws {
        try await withTemporaryStore { store, _ in
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
            let before = try store.currentGenerations().revocations
            try await store.revokeGrant(id: "g1", at: now)
            #expect(try store.currentGenerations().revocations == before + 1)
            // Revoking again changes nothing, so it counts nothing.
            try await store.revokeGrant(id: "g1", at: now)
            #expect(try store.currentGenerations().revocations == before + 1)
            #expect(try await store.delete(username: "alice"))
            #expect(try store.currentGenerations().revocations == before + 3)
        }
    }

    @Test("a change committed by another process's connection is seen at once")
    func otherConnection() async throws {
        try await withTemporaryStore { store, path in
            let before = try store.currentGenerations()
            // What the CLI does: its own connection to the same file.
            let other = try DatabaseQueue(path: path)
            try await other.write { db in
                try db.execute(sql: "UPDATE signing_keys SET retired_at = 1") // no rows: no trigger fires
                try db.execute(sql: "DELETE FROM clients WHERE id = 'nobody'")
            }
            #expect(try store.currentGenerations() == before)
            try await other.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO clients (id, name, secret_digest, auth_method, grant_types, redirect_uris, scope, audiences,
                            skip_consent, pkce_optional, created_at)
                        VALUES ('cli', 'cli', NULL, 'none', 'authorization_code', '[]', '', '[]', 0, 0, 0)
                        """)
            }
            #expect(try store.currentGenerations().clients == before.clients + 1)
            try other.close()
        }
    }

    @Test("durability full fsyncs every commit; normal is available", arguments: SQLiteStore.Durability.allCases)
    func durability(_ durability: SQLiteStore.Durability) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-sync-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("w.sqlite").path, durability: durability)
        defer { try? store.close() }
        // SQLite: 1 is NORMAL, 2 is FULL.
        #expect(try store.synchronousLevel() == (durability == .full ? 2 : 1))
    }

    @Test("200 concurrent writes all commit; a failing one rolls back alone")
    func groupCommit() async throws {
        try await withTemporaryStore { store, path in
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
            let queue = try DatabaseQueue(path: path)
            #expect(try await queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM clients") } == 197)
            #expect(try await queue.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok")
            try queue.close()
        }
    }
}
