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
            try await store.insert(
                BrowserSession(digest: OpaqueToken.generate().digest, sid: "s1", userID: nil, csrfToken: "c", authenticatedAt: nil, expiresAt: now),
                replacing: nil)
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
            let session = BrowserSession(
                digest: token.digest, sid: "s1", userID: nil, csrfToken: "csrf", authenticatedAt: nil, expiresAt: now.addingTimeInterval(60))
            try await store.insert(session, replacing: nil)
            #expect(try await store.session(digest: token.digest, at: now) == session)
            #expect(try await store.session(digest: token.digest, at: now.addingTimeInterval(60)) == nil)
            // A CSRF token is spent once: of 10 simultaneous spends exactly one wins.
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<10 { group.addTask { try await store.replaceCSRFToken(digest: token.digest, old: "csrf", new: "next-\(index)") } }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(wins == 1)
            #expect(try await store.session(digest: token.digest, at: now)?.csrfToken.hasPrefix("next-") == true)
            #expect(try await store.endSessions(.digest(token.digest), at: now) == 1)
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
        let pool = try DatabasePool(path: path)
        try upTo0003.migrate(pool)
        // Rows as the 0003 schema holds them, written as that version of Warden wrote them.
        let now = self.now
        func seed(_ index: Int, redeemed: Bool) throws -> (grantID: String, code: OpaqueToken) {
            let code = OpaqueToken.generate()
            try pool.write { db in
                if index == 0 {
                    try db.execute(sql: """
                        INSERT INTO clients (id, name, secret_digest, auth_method, grant_types, redirect_uris, scope, audiences,
                            skip_consent, pkce_optional, created_at)
                        VALUES ('spa', 'spa', NULL, 'none', 'authorization_code refresh_token', '["http://127.0.0.1/cb"]', 'profile', '[]', 0, 0, ?)
                        """, arguments: [now.unixSeconds])
                    try db.execute(sql: "INSERT INTO users (id, username, password_hash, created_at) VALUES ('u1', 'alice', 'x', ?)",
                                   arguments: [now.unixSeconds])
                }
                try db.execute(sql: """
                    INSERT INTO grants (id, client_id, user_id, scope, audiences, created_at, expires_at)
                    VALUES (?, 'spa', 'u1', 'profile', '["https://api"]', ?, ?)
                    """, arguments: ["g\(index)", now.unixSeconds, now.unixSeconds + 60])
                try db.execute(sql: """
                    INSERT INTO authorization_codes (digest, grant_id, redirect_uri, redirect_uri_explicit, expires_at, consumed_at)
                    VALUES (?, ?, 'http://127.0.0.1/cb', 1, ?, ?)
                    """, arguments: [Data(code.digest), "g\(index)", now.unixSeconds + 60, redeemed ? now.unixSeconds : nil])
            }
            return ("g\(index)", code)
        }
        let (redeemedGrantID, redeemed) = try seed(0, redeemed: true)
        let (pendingGrantID, pending) = try seed(1, redeemed: false)
        try pool.close()

        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try store.migrationStatus().allSatisfy(\.applied))
        #expect(try await rows("authorization_codes", in: store).count == 2)
        #expect(try await !redeem(store, redeemed, refreshToken: nil))
        #expect(try await store.activeGrantEnd(id: redeemedGrantID, at: now) == nil)
        #expect(try await redeem(store, pending, refreshToken: .generate()))
        #expect(try await store.activeGrantEnd(id: pendingGrantID, at: now) != nil)
        #expect(try await !redeem(store, pending, refreshToken: .generate()))
        #expect(try await store.activeGrantEnd(id: pendingGrantID, at: now) == nil)
    }
}
