import Foundation

/// The login form's protocol after its CSRF token checked out: rate limits, the
/// password check, and a new session under a new id on success.
public struct SignIn: Sendable {
    /// What became of an attempt.
    public enum Outcome: Sendable, Equatable {
        /// Too many recent failures for this username or address; try again in this many seconds.
        case rateLimited(retryAfter: Int)
        /// Unknown user or wrong password; the two are not told apart.
        case failed
        /// Signed in: the new session's cookie value.
        case signedIn(cookie: OpaqueToken)
    }

    let sessions: BrowserSessions
    let login: Login
    /// Failed logins per username: tight.
    let failuresPerAccount: any FailureCounting
    /// Failed logins per client address: loose, so a shared address is not locked out.
    let failuresPerAddress: any FailureCounting
    let clock: any WardenClock

    public init(
        sessions: BrowserSessions, login: Login, failuresPerAccount: any FailureCounting,
        failuresPerAddress: any FailureCounting,
        clock: any WardenClock
    ) {
        self.sessions = sessions
        self.login = login
        self.failuresPerAccount = failuresPerAccount
        self.failuresPerAddress = failuresPerAddress
        self.clock = clock
    }

    /// Tries `username` and `password` from `address`, replacing `session` on success.
    public func attempt(username: String, password: String, address: String, replacing session: BrowserSession) async throws -> Outcome {
        let now = clock.now()
        var wait = try await failuresPerAccount.retryAfter(username, now: now)
        if wait == nil { wait = try await failuresPerAddress.retryAfter(address, now: now) }
        if let wait { return .rateLimited(retryAfter: wait) }
        guard let user = try await login.authenticate(username: username, password: password) else {
            try await failuresPerAccount.recordFailure(username, now: now)
            try await failuresPerAddress.recordFailure(address, now: now)
            return .failed
        }
        return .signedIn(cookie: try await sessions.logIn(userID: user.id, replacing: session).cookie)
    }
}
