import Foundation

/// Starts, finds and renews browser sessions. A session starts anonymous (so the
/// login form has a CSRF token bound to it) and is replaced by a new one, under a
/// new id and token, at login: no session fixation.
public struct BrowserSessions: Sendable {
    let repository: any SessionRepository
    let clock: any WardenClock
    /// How long a login lasts (configurable).
    let lifetime: TimeInterval
    /// How long an anonymous session waits for a login.
    let anonymousLifetime: TimeInterval = 3600

    public init(repository: any SessionRepository, clock: any WardenClock, lifetime: TimeInterval) {
        self.repository = repository
        self.clock = clock
        self.lifetime = lifetime
    }

    /// The live session whose id the cookie carries.
    public func current(cookie: String?) async throws -> BrowserSession? {
        guard let cookie, !cookie.isEmpty else { return nil }
        return try await repository.session(digest: OpaqueToken(cookie).digest, at: clock.now())
    }

    /// A new anonymous session; the token goes into the cookie.
    public func startAnonymous() async throws -> (cookie: OpaqueToken, session: BrowserSession) {
        try await start(userID: nil, lifetime: anonymousLifetime)
    }

    /// Ends `previous` and starts an authenticated session for `userID`.
    public func logIn(userID: String, replacing previous: BrowserSession?) async throws -> (cookie: OpaqueToken, session: BrowserSession) {
        if let previous { try await repository.deleteSession(digest: previous.digest) }
        return try await start(userID: userID, lifetime: lifetime)
    }

    /// Spends the session's CSRF token so that the form it protected cannot be posted
    /// again (a replayed consent must not issue a second code). False when another
    /// request spent it first: exactly one of two simultaneous posts goes through.
    public func spendCSRFToken(of session: BrowserSession) async throws -> Bool {
        try await repository.replaceCSRFToken(digest: session.digest, old: session.csrfToken, new: RandomToken.make(byteCount: 32))
    }

    private func start(userID: String?, lifetime: TimeInterval) async throws -> (cookie: OpaqueToken, session: BrowserSession) {
        let now = clock.now()
        let token = OpaqueToken.generate()
        let session = BrowserSession(
            digest: token.digest, userID: userID, csrfToken: RandomToken.make(byteCount: 32),
            authenticatedAt: userID == nil ? nil : now, expiresAt: now.addingTimeInterval(lifetime))
        try await repository.insert(session)
        return (token, session)
    }
}
