import Foundation
import GRDB
import Testing
import WardenCore
import WardenMigrations
import WardenServer
import WardenStore

@Suite("Grants, codes and refresh tokens in storage")
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
        let grant = GrantRecord(
            id: RandomToken.identifier(byteCount: 16), clientID: client.id, userID: user.id, scope: Scope(tokens: ["profile"]),
            audience: ["https://api"], createdAt: now, expiresAt: now.addingTimeInterval(60))
        let code = OpaqueToken.generate()
        try await store.insert(
            grant: grant,
            code: AuthorizationCodeRecord(
                digest: code.digest, grant: grant, redirectURI: "http://127.0.0.1/cb", redirectURIExplicit: true,
                codeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", codeChallengeMethod: .s256,
                expiresAt: now.addingTimeInterval(60)))
        return (grant, code)
    }

    func newRefresh(_ token: OpaqueToken = .generate()) -> NewRefreshToken {
        NewRefreshToken(digest: token.digest, scope: Scope(tokens: ["profile"]), idleExpiresAt: now.addingTimeInterval(3600))
    }

    /// Redeems `code` as the code grant would once its checks passed; true when this call won.
    func redeem(_ store: any WardenStorage, _ code: OpaqueToken, refreshToken: NewRefreshToken?) async throws -> Bool {
        let (end, now) = (now.addingTimeInterval(86_400), now)
        let exchange = try await store.exchangeCode(digest: code.digest, at: now) { record in
            record.consumedAt == nil ? .redeem(grantExpiresAt: end, refreshToken: refreshToken) : .reuse
        }
        if case .exchanged = exchange { return true }
        return false
    }

    /// Rotates `token` (to `successor`, or a fresh one); true when this call won.
    func rotate(_ store: any WardenStorage, _ token: OpaqueToken, successor: OpaqueToken = .generate()) async throws -> Bool {
        let next = newRefresh(successor)
        let exchange = try await store.exchangeRefreshToken(digest: token.digest, at: now) { record in
            record.rotatedAt == nil ? .rotate(successor: next) : .reuse
        }
        if case .exchanged = exchange { return true }
        return false
    }

    @Test("redeeming extends the grant; a decision that throws changes nothing and its error comes back", arguments: Backend.allCases)
    func redeemOnceAndRefusal(_ backend: Backend) async throws {
        struct Refused: Error {}
        try await withTemporaryStore(backend) { store in
            let (grant, code) = try await seed(store)
            let before = try await rows("authorization_codes", in: store)
            await #expect(throws: Refused.self) {
                _ = try await store.exchangeCode(digest: code.digest, at: now) { _ in throw Refused() }
            }
            #expect(try await rows("authorization_codes", in: store) == before)
            #expect(try await store.activeGrantEnd(id: grant.id, at: now) == now.addingTimeInterval(60))
            #expect(try await redeem(store, code, refreshToken: newRefresh()))
            #expect(try await store.activeGrantEnd(id: grant.id, at: now.addingTimeInterval(3600)) == now.addingTimeInterval(86_400))
        }
    }

    @Test("a code round-trips with its bindings and grant", arguments: Backend.allCases)
    func codeRoundTrip(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (grant, code) = try await seed(store)
            // Found as the code grant finds it; the thrown decision changes nothing.
            struct Found: Error { let record: AuthorizationCodeRecord }
            var found: AuthorizationCodeRecord?
            do { _ = try await store.exchangeCode(digest: code.digest, at: now) { throw Found(record: $0) } } catch let error as Found {
                found = error.record
            }
            let record = try #require(found)
            #expect(record.grant == grant)
            #expect(record.redirectURI == "http://127.0.0.1/cb" && record.redirectURIExplicit)
            #expect(record.codeChallengeMethod == .s256)
            #expect(record.consumedAt == nil)
        }
    }

    @Test("20 simultaneous redemptions of one code: exactly one wins, one refresh token is stored, the replays revoke the grant", arguments: Backend.allCases)
    func concurrentRedeem(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (grant, code) = try await seed(store)
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await redeem(store, code, refreshToken: newRefresh())
                    }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(wins == 1)
            #expect(try await rows("refresh_tokens", in: store).count == 1)
            #expect(try await store.activeGrantEnd(id: grant.id, at: now.addingTimeInterval(3600)) == nil)
        }
    }

    @Test("20 simultaneous rotations of one refresh token: exactly one wins, one successor exists", arguments: Backend.allCases)
    func concurrentRotate(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (_, code) = try await seed(store)
            let first = OpaqueToken.generate()
            #expect(try await redeem(store, code, refreshToken: newRefresh(first)))
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await rotate(store, first) }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(wins == 1)
            let tokens = try await rows("refresh_tokens", in: store)
            #expect(tokens.filter { $0["rotated_at"] == .null }.count == 1)
            #expect(tokens.count == 2)
        }
    }

    @Test("a grace replay wins once, kills the earlier successor and never leaves two live tokens", arguments: Backend.allCases)
    func graceReplay(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (_, code) = try await seed(store)
            let first = OpaqueToken.generate()
            let lost = OpaqueToken.generate()
            _ = try await redeem(store, code, refreshToken: newRefresh(first))
            #expect(try await rotate(store, first, successor: lost))
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        let exchange = try await store.exchangeRefreshToken(digest: first.digest, at: now) { _ in .replayWithinGrace(successor: newRefresh()) }
                        if case .exchanged = exchange { return true }
                        return false
                    }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(wins == 1)
            #expect(try await store.refreshToken(digest: lost.digest)?.rotatedAt != nil)
            #expect(try await rows("refresh_tokens", in: store).filter { $0["rotated_at"] == .null }.count == 1)
        }
    }

    @Test("revoking a grant makes it inactive; deleting the user deletes grants, codes and tokens", arguments: Backend.allCases)
    func revokeAndCascade(_ backend: Backend) async throws {
        try await withTemporaryStore(backend) { store in
            let (grant, code) = try await seed(store)
            _ = try await redeem(store, code, refreshToken: newRefresh())
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
        #expect(try await redeem(store, pending, refreshToken: newRefresh()))
        #expect(try await store.activeGrantEnd(id: pendingGrant.id, at: now) != nil)
        #expect(try await !redeem(store, pending, refreshToken: newRefresh()))
        #expect(try await store.activeGrantEnd(id: pendingGrant.id, at: now) == nil)
    }
}
