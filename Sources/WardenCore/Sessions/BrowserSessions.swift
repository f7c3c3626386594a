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

    /// Starts an authenticated session for `userID` under a new cookie. The same user
    /// signing in again keeps the session's `sid`; another user's session ends.
    public func logIn(userID: String, replacing previous: BrowserSession?) async throws -> (cookie: OpaqueToken, session: BrowserSession) {
        let now = clock.now()
        let continuing = previous.flatMap { $0.userID == userID ? $0 : nil }
        if let previous, continuing == nil { try await repository.endSessions(.digest(previous.digest), at: now) }
        let token = OpaqueToken.generate()
        let session = BrowserSession(
            digest: token.digest, sid: continuing?.sid ?? RandomToken.make(byteCount: 16), userID: userID,
            csrfToken: RandomToken.make(byteCount: 32), authenticatedAt: now, expiresAt: now.addingTimeInterval(lifetime))
        try await repository.insert(session, replacing: continuing?.digest)
        return (token, session)
    }

    /// Ends the session (RP-Initiated Logout): its clients are told by back-channel logout.
    public func logOut(_ session: BrowserSession) async throws {
        try await repository.endSessions(.digest(session.digest), at: clock.now())
    }

    /// Spends the session's CSRF token so that the form it protected cannot be posted
    /// again (a replayed consent must not issue a second code). False when another
    /// request spent it first: exactly one of two simultaneous posts goes through.
    public func spendCSRFToken(of session: BrowserSession) async throws -> Bool {
        try await repository.replaceCSRFToken(digest: session.digest, old: session.csrfToken, new: RandomToken.make(byteCount: 32))
    }
}
