import Foundation

/// Starts, finds and renews browser sessions. A session is stored only once someone
/// signs in (before that, `PreLoginCookies` carry the login form's CSRF token), and a
/// login always starts a new one, under a new id and token: no session fixation.
public struct BrowserSessions: Sendable {
    let repository: any SessionRepository
    let clock: any WardenClock
    /// How long a login lasts (configurable).
    let lifetime: TimeInterval

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

    /// Ends `previous` and starts an authenticated session for `userID`.
    public func logIn(userID: String, replacing previous: BrowserSession?) async throws -> (cookie: OpaqueToken, session: BrowserSession) {
        if let previous { try await repository.deleteSession(digest: previous.digest) }
        let now = clock.now()
        let token = OpaqueToken.generate()
        let session = BrowserSession(
            digest: token.digest, userID: userID, csrfToken: RandomToken.make(byteCount: 32), authenticatedAt: now,
            expiresAt: now.addingTimeInterval(lifetime))
        try await repository.insert(session)
        return (token, session)
    }

    /// Spends the session's CSRF token so that the form it protected cannot be posted
    /// again (a replayed consent must not issue a second code). False when another
    /// request spent it first: exactly one of two simultaneous posts goes through.
    public func spendCSRFToken(of session: BrowserSession) async throws -> Bool {
        try await repository.replaceCSRFToken(digest: session.digest, old: session.csrfToken, new: RandomToken.make(byteCount: 32))
    }
}
