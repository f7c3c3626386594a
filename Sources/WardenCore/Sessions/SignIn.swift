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
        /// Signed in: the new session and its cookie value.
        case signedIn(cookie: OpaqueToken, session: BrowserSession)
    }

    let sessions: BrowserSessions
    let login: Login
    /// Attempts per username from one address: tight.
    let perAccountFromAddress: any FailureCounting
    /// Attempts per username from any address: loose, against distributed guessing.
    let perAccount: any FailureCounting
    /// Attempts per client address: loose, so a shared address is not locked out.
    let perAddress: any FailureCounting
    let clock: any WardenClock

    /// The longest username tried: a longer one cannot exist, so it fails at once,
    /// without becoming a rate limiter's key.
    public static let maximumUsernameLength = 255

    public init(
        sessions: BrowserSessions, login: Login, perAccountFromAddress: any FailureCounting, perAccount: any FailureCounting,
        perAddress: any FailureCounting, clock: any WardenClock
    ) {
        self.sessions = sessions
        self.login = login
        self.perAccountFromAddress = perAccountFromAddress
        self.perAccount = perAccount
        self.perAddress = perAddress
        self.clock = clock
    }

    /// Tries `username` and `password` from `address`, replacing `session` (if any) on
    /// success. The attempt counts against the limits before the password is hashed.
    public func attempt(username: String, password: String, address: String, replacing session: BrowserSession?) async throws -> Outcome {
        guard !username.isEmpty, username.utf8.count <= Self.maximumUsernameLength else { return .failed }
        let now = clock.now()
        let limits = FailureLimits([(perAccountFromAddress, "\(username) \(address)"), (perAccount, username), (perAddress, address)])
        if let wait = try await limits.admit(now: now) { return .rateLimited(retryAfter: wait) }
        guard let user = try await login.authenticate(username: username, password: password) else { return .failed }
        try await limits.forgive(admittedAt: now)
        let (cookie, newSession) = try await sessions.logIn(userID: user.id, replacing: session)
        return .signedIn(cookie: cookie, session: newSession)
    }
}
