import Foundation
import Synchronization
import Testing
import WardenCore

/// A hasher for tests: "hash:" + the password, and a count of verifications.
final class CountingHasher: PasswordHasher {
    let verifications = Mutex(0)
    func hash(_ password: String) async throws -> String { "hash:" + password }
    func verify(_ password: String, hash: String) async -> Bool {
        verifications.withLock { $0 += 1 }
        return hash == "hash:" + password
    }
}

final class InMemoryUsers: UserRepository {
    let users = Mutex<[String: User]>([:])
    func user(username: String) async throws -> User? { users.withLock { $0[username] } }
    func user(id: String) async throws -> User? { users.withLock { $0.values.first { $0.id == id } } }
    func allUsers() async throws -> [User] { users.withLock { Array($0.values) } }
    func insert(_ user: User) async throws { users.withLock { $0[user.username] = user } }
    func updatePasswordHash(username: String, hash: String) async throws -> Bool {
        users.withLock { users in
            guard users[username] != nil else { return false }
            users[username]?.passwordHash = hash
            return true
        }
    }
    func delete(username: String) async throws -> Bool { users.withLock { $0.removeValue(forKey: username) != nil } }
}

final class InMemorySessions: SessionRepository {
    let sessions = Mutex<[[UInt8]: BrowserSession]>([:])
    func session(digest: [UInt8], at now: Date) async throws -> BrowserSession? {
        sessions.withLock { $0[digest].flatMap { $0.expiresAt > now ? $0 : nil } }
    }
    func insert(_ session: BrowserSession) async throws { sessions.withLock { $0[session.digest] = session } }
    func deleteSession(digest: [UInt8]) async throws { sessions.withLock { $0[digest] = nil } }
    func replaceCSRFToken(digest: [UInt8], old: String, new: String) async throws -> Bool {
        sessions.withLock { sessions in
            guard sessions[digest]?.csrfToken == old else { return false }
            sessions[digest]?.csrfToken = new
            return true
        }
    }
}

@Suite("Sign-in")
struct SignInTests {
    struct World {
        let hasher = CountingHasher()
        let users = InMemoryUsers()
        let store = InMemorySessions()
        let clock = FixedClock(date: Date(timeIntervalSince1970: 1_800_000_000))
        var sessions: BrowserSessions { BrowserSessions(repository: store, clock: clock, lifetime: 3600) }
        var signIn: SignIn {
            SignIn(
                sessions: sessions, login: Login(users: users, hasher: hasher, decoyHash: "hash:decoy"),
                failuresPerAccount: FailureRateLimiter(limit: 3), failuresPerAddress: FailureRateLimiter(limit: 5), clock: clock)
        }

        init() async throws {
            try await users.insert(User(id: "u1", username: "alice", passwordHash: "hash:secret", createdAt: Date()))
        }
    }

    @Test("success replaces the anonymous session with a new, authenticated one")
    func renewal() async throws {
        let world = try await World()
        let (anonymousCookie, anonymous) = try await world.sessions.startAnonymous()
        let outcome = try await world.signIn.attempt(username: "alice", password: "secret", address: "10.0.0.1", replacing: anonymous)
        guard case .signedIn(let cookie) = outcome else { Issue.record("expected sign-in, got \(outcome)"); return }
        #expect(cookie != anonymousCookie)
        #expect(try await world.sessions.current(cookie: anonymousCookie.value) == nil)
        let session = try #require(try await world.sessions.current(cookie: cookie.value))
        #expect(session.userID == "u1")
        #expect(session.csrfToken != anonymous.csrfToken)
    }

    @Test("an unknown user costs a password verification too, and fails the same way")
    func unknownUser() async throws {
        let world = try await World()
        let (_, anonymous) = try await world.sessions.startAnonymous()
        #expect(try await world.signIn.attempt(username: "mallory", password: "x", address: "a", replacing: anonymous) == .failed)
        #expect(try await world.signIn.attempt(username: "alice", password: "x", address: "a", replacing: anonymous) == .failed)
        #expect(world.hasher.verifications.withLock { $0 } == 2)
    }

    @Test("failures are limited per account, even with the right password, and per address")
    func limits() async throws {
        let world = try await World()
        let signIn = world.signIn
        let (_, anonymous) = try await world.sessions.startAnonymous()
        for _ in 0..<3 { _ = try await signIn.attempt(username: "alice", password: "x", address: "a", replacing: anonymous) }
        guard case .rateLimited(let wait) = try await signIn.attempt(username: "alice", password: "secret", address: "b", replacing: anonymous) else {
            Issue.record("expected the account limit"); return
        }
        #expect(wait > 0 && wait <= 60)
        for i in 0..<5 { _ = try await signIn.attempt(username: "user\(i)", password: "x", address: "c", replacing: anonymous) }
        #expect(try await signIn.attempt(username: "someone", password: "x", address: "c", replacing: anonymous) != .failed)
    }
}
