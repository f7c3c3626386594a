import Foundation
import GRDB
import Testing
import WardenCore
import WardenMigrations
import WardenServer
import WardenSQLite

@Suite("Grants, codes and refresh tokens in SQL storage")
struct GrantStoreTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// A client, a user and a grant with an unredeemed code.
    func seed(_ store: any WardenStorage) async throws -> (grant: GrantRecord, code: OpaqueToken) {
        let (client, _) = try ClientRegistration(
            name: "spa", grantTypes: [.authorizationCode, .refreshToken], redirectURIs: ["http://127.0.0.1/cb"], scope: "profile",
            authMethod: ClientAuthMethod.none
        ).makeClient(now: now)
        try await store.insert(client)
        let user = User(id: RandomToken.identifier(byteCount: 16), username: "alice-\(UUID().uuidString)", passwordHash: "x", createdAt: now)
        try await store.insert(user)
        return try await newGrant(in: store, clientID: client.id, userID: user.id, at: now)
    }

    /// Redeems `code` as the code grant does; true when this call won.
    func redeem(_ store: any WardenStorage, _ code: OpaqueToken, refreshToken: OpaqueToken?) async throws -> Bool {
        let (end, idle, now, refresh) = (now.addingTimeInterval(86_400), now.addingTimeInterval(3600), now, refreshToken?.digest)
        let use = try await store.withLockedCode(digest: code.digest, at: now) { record in
            try GrantLifecycle.presentCode(
                record, clientID: record?.grant.clientID ?? "", grantExpiresAt: end, refreshToken: refresh, idleExpiresAt: idle) { _ in }
        }
        return use.isAccepted
    }

    @Test("revoking a grant makes it inactive; deleting the user deletes grants, codes and tokens", arguments: Backend.allCases)
    func revokeAndCascade(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (grant, code) = try await seed(store)
            _ = try await redeem(store, code, refreshToken: .generate())
            try await store.revokeGrant(id: grant.id, at: now)
            #expect(try await store.activeGrantEnd(id: grant.id, at: now) == nil)
            let user = try #require(try await store.user(id: grant.userID))
            #expect(try await store.delete(username: user.username))
            for table in ["grants", "authorization_codes", "refresh_tokens"] {
                #expect(try await rows(table, in: store).isEmpty)
            }
        }
    }

    @Test("purge removes expired grants with their codes, idle refresh tokens and sessions, in batches", arguments: Backend.allCases)
    func purge(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            for _ in 0..<3 { _ = try await seed(store) }
            try await store.insert(BrowserSession(digest: OpaqueToken.generate().digest, userID: nil, csrfToken: "c", authenticatedAt: nil, expiresAt: now))
            let later = now.addingTimeInterval(61)
            #expect(try await store.purgeExpired(before: later, limit: 2) == 3)
            #expect(try await store.purgeExpired(before: later, limit: 2) == 1)
            #expect(try await store.purgeExpired(before: later, limit: 2) == 0)
            #expect(try await rows("authorization_codes", in: store).isEmpty)
        }
    }

    @Test("consent merges scopes per user and client", arguments: Backend.allCases)
    func consent(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (grant, _) = try await seed(store)
            #expect(try await store.consentedScope(userID: grant.userID, clientID: grant.clientID) == nil)
            try await store.rememberConsent(userID: grant.userID, clientID: grant.clientID, scope: Scope(tokens: ["a"]), at: now)
            try await store.rememberConsent(userID: grant.userID, clientID: grant.clientID, scope: Scope(tokens: ["b", "a"]), at: now)
            #expect(try await store.consentedScope(userID: grant.userID, clientID: grant.clientID)?.tokens == ["a", "b"])
        }
    }

    @Test("sessions are found by digest only until they expire", arguments: Backend.allCases)
    func sessions(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let token = OpaqueToken.generate()
            let session = BrowserSession(digest: token.digest, userID: nil, csrfToken: "csrf", authenticatedAt: nil, expiresAt: now.addingTimeInterval(60))
            try await store.insert(session)
            #expect(try await store.session(digest: token.digest, at: now) == session)
            #expect(try await store.session(digest: token.digest, at: now.addingTimeInterval(60)) == nil)
            // A CSRF token is spent once: of 10 simultaneous spends exactly one wins.
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<10 { group.addTask { try await store.replaceCSRFToken(digest: token.digest, old: "csrf", new: "next-\(index)") } }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(wins == 1)
            #expect(try await store.session(digest: token.digest, at: now)?.csrfToken.hasPrefix("next-") == true)
            try await store.deleteSession(digest: token.digest)
            #expect(try await store.session(digest: token.digest, at: now) == nil)
        }
    }

    @Test("codes issued before migration 0004 keep their state: one redemption each, then reuse revokes")
    func codesSurviveTheirTableRebuild() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-0004-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("warden.sqlite").path
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var upTo0003 = DatabaseMigrator()
        for migration in SQLiteMigrations.all.prefix(3) {
            upTo0003.registerMigration(migration.id) { db in try db.execute(sql: migration.sql) }
        }
        try upTo0003.migrate(try DatabasePool(path: path))

        let before = try SQLiteStore(path: path, migrate: false)
        let (redeemedGrant, redeemed) = try await seed(before)
        let (pendingGrant, pending) = try await seed(before)
        #expect(try await redeem(before, redeemed, refreshToken: nil))
        try before.close()

        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try store.migrationStatus().allSatisfy(\.applied))
        #expect(try await rows("authorization_codes", in: store).count == 2)
        #expect(try await !redeem(store, redeemed, refreshToken: nil))
        #expect(try await store.activeGrantEnd(id: redeemedGrant.id, at: now) == nil)
        #expect(try await redeem(store, pending, refreshToken: .generate()))
        #expect(try await store.activeGrantEnd(id: pendingGrant.id, at: now) != nil)
        #expect(try await !redeem(store, pending, refreshToken: .generate()))
        #expect(try await store.activeGrantEnd(id: pendingGrant.id, at: now) == nil)
    }
}
