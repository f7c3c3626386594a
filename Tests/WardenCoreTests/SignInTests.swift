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

final class InMemorySessions: SessionRepository {
    let sessions = Mutex<[[UInt8]: BrowserSession]>([:])
    func session(digest: [UInt8], at now: Date) async throws -> BrowserSession? {
        sessions.withLock { $0[digest].flatMap { $0.expiresAt > now ? $0 : nil } }
    }
    func insert(_ session: BrowserSession, replacing previous: [UInt8]?) async throws {
        sessions.withLock { sessions in
            if let previous { sessions[previous] = nil }
            sessions[session.digest] = session
        }
    }
    func endSessions(_ selector: SessionSelector, at now: Date) async throws -> Int {
        sessions.withLock { sessions in
            let ended = sessions.filter { digest, session in
                switch selector {
                case .digest(let wanted): digest == wanted
                case .sid(let sid): session.sid == sid
                case .user(let id): session.userID == id
                }
            }
            for digest in ended.keys { sessions[digest] = nil }
            return ended.count
        }
    }
    func sessionSummaries(userID: String?, at now: Date) async throws -> [SessionSummary] { [] }
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
        let perAccountFromAddress = FailureRateLimiter(limit: 3)
        let perAccount = FailureRateLimiter(limit: 6)
        let perAddress = FailureRateLimiter(limit: 5)
        var sessions: BrowserSessions { BrowserSessions(repository: store, clock: clock, lifetime: 3600) }
        var signIn: SignIn {
            SignIn(
                sessions: sessions, login: Login(users: users, hasher: hasher, decoyHash: "hash:decoy"),
                perAccountFromAddress: perAccountFromAddress, perAccount: perAccount, perAddress: perAddress, clock: clock)
        }

        init() async throws {
            try await users.insert(User(id: "u1", username: "alice", passwordHash: "hash:secret", createdAt: Date()))
        }
    }

    @Test("success starts a new authenticated session, replacing the one the browser had")
    func renewal() async throws {
        let world = try await World()
        guard case .signedIn(let first, _) = try await world.signIn.attempt(username: "alice", password: "secret", address: "a", replacing: nil)
        else { Issue.record("expected sign-in"); return }
        let previous = try #require(try await world.sessions.current(cookie: first.value))
        let outcome = try await world.signIn.attempt(username: "alice", password: "secret", address: "10.0.0.1", replacing: previous)
        guard case .signedIn(let cookie, _) = outcome else { Issue.record("expected sign-in, got \(outcome)"); return }
        #expect(cookie != first)
        #expect(try await world.sessions.current(cookie: first.value) == nil)
        let session = try #require(try await world.sessions.current(cookie: cookie.value))
        #expect(session.userID == "u1")
        #expect(session.csrfToken != previous.csrfToken)
        // The same user signing in again (prompt=login) continues the session: its sid stays.
        #expect(session.sid == previous.sid)
    }

    @Test("another user signing in on the same browser ends the first one's session: a new sid")
    func anotherUser() async throws {
        let world = try await World()
        try await world.users.insert(User(id: "u2", username: "bob", passwordHash: "hash:other", createdAt: Date()))
        guard case .signedIn(_, let alice) = try await world.signIn.attempt(username: "alice", password: "secret", address: "a", replacing: nil),
            case .signedIn(_, let bob) = try await world.signIn.attempt(username: "bob", password: "other", address: "a", replacing: alice)
        else { Issue.record("expected sign-ins"); return }
        #expect(bob.sid != alice.sid)
        #expect(try await world.store.session(digest: alice.digest, at: world.clock.now()) == nil)
    }

    @Test("an unknown user costs a password verification too, and fails the same way")
    func unknownUser() async throws {
        let world = try await World()
        #expect(try await world.signIn.attempt(username: "mallory", password: "x", address: "a", replacing: nil) == .failed)
        #expect(try await world.signIn.attempt(username: "alice", password: "x", address: "a", replacing: nil) == .failed)
        #expect(world.hasher.verifications.withLock { $0 } == 2)
    }

    @Test("a username longer than any can be fails at once, without a hash or a limiter entry")
    func longUsername() async throws {
        let world = try await World()
        let long = String(repeating: "a", count: SignIn.maximumUsernameLength + 1)
        #expect(try await world.signIn.attempt(username: long, password: "x", address: "a", replacing: nil) == .failed)
        #expect(world.hasher.verifications.withLock { $0 } == 0)
        #expect(world.perAccountFromAddress.count == 0 && world.perAccount.count == 0 && world.perAddress.count == 0)
    }

    @Test("tight per account from one address, loose per account and per address; another address is not locked out")
    func limits() async throws {
        let world = try await World()
        let signIn = world.signIn
        for _ in 0..<3 { #expect(try await signIn.attempt(username: "alice", password: "x", address: "a", replacing: nil) == .failed) }
        // From "a", even the right password waits; from "b" alice signs in.
        guard case .rateLimited(let wait) = try await signIn.attempt(username: "alice", password: "secret", address: "a", replacing: nil) else {
            Issue.record("expected the per-account-and-address limit"); return
        }
        #expect(wait > 0 && wait <= 60)
        guard case .signedIn = try await signIn.attempt(username: "alice", password: "secret", address: "b", replacing: nil) else {
            Issue.record("another address was locked out"); return
        }
        // Distributed guessing: 6 failures in all reach the per-account limit, whatever the addresses.
        for i in 0..<3 { _ = try await signIn.attempt(username: "alice", password: "x", address: "d\(i)", replacing: nil) }
        guard case .rateLimited = try await signIn.attempt(username: "alice", password: "x", address: "e", replacing: nil) else {
            Issue.record("expected the per-account limit"); return
        }
        // Per address: 5 failures from "c" with any usernames.
        for i in 0..<5 { _ = try await signIn.attempt(username: "user\(i)", password: "x", address: "c", replacing: nil) }
        #expect(try await signIn.attempt(username: "someone", password: "x", address: "c", replacing: nil) != .failed)
    }

    @Test("attempts in flight count before the password is hashed: parallel guesses cannot slip past the limit")
    func parallel() async throws {
        let world = try await World()
        let signIn = world.signIn
        let outcomes = try await withThrowingTaskGroup(of: SignIn.Outcome.self) { group in
            for _ in 0..<20 { group.addTask { try await signIn.attempt(username: "alice", password: "x", address: "a", replacing: nil) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .failed }.count == 3)
        #expect(world.hasher.verifications.withLock { $0 } == 3)
    }
}
