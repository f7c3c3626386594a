import Foundation

/// A browser's session at the login and consent pages. The cookie carries the id;
/// storage keeps its digest. Anonymous until login, then renewed under a new id.
public struct BrowserSession: Sendable, Equatable {
    public var digest: [UInt8]
    /// The session's public id (OpenID Connect `sid`): in ID tokens, logout tokens and
    /// `warden sessions`. Unlike the cookie it grants nothing, and it stays the same when
    /// the same user signs in again (`prompt=login`) under a new cookie.
    public var sid: String
    /// Nil before login.
    public var userID: String?
    /// The anti-CSRF token of the forms rendered in this session.
    public var csrfToken: String
    public var authenticatedAt: Date?
    public var expiresAt: Date

    public init(digest: [UInt8], sid: String, userID: String?, csrfToken: String, authenticatedAt: Date?, expiresAt: Date) {
        self.digest = digest
        self.sid = sid
        self.userID = userID
        self.csrfToken = csrfToken
        self.authenticatedAt = authenticatedAt
        self.expiresAt = expiresAt
    }

    /// Whether `token` is this session's CSRF token (constant time).
    public func acceptsCSRF(_ token: String?) -> Bool {
        guard let token else { return false }
        return ConstantTime.equals(Array(token.utf8), Array(csrfToken.utf8))
    }
}

/// Which sessions to end.
public enum SessionSelector: Sendable, Equatable {
    /// The session whose cookie has this digest.
    case digest([UInt8])
    /// The session with this `sid`.
    case sid(String)
    /// Every session of this user.
    case user(id: String)
}

/// A session as `warden sessions list` shows it.
public struct SessionSummary: Sendable, Equatable {
    public var sid: String
    public var userID: String
    public var username: String
    public var authenticatedAt: Date
    public var expiresAt: Date

    public init(sid: String, userID: String, username: String, authenticatedAt: Date, expiresAt: Date) {
        self.sid = sid
        self.userID = userID
        self.username = username
        self.authenticatedAt = authenticatedAt
        self.expiresAt = expiresAt
    }
}

/// Where browser sessions are kept.
public protocol SessionRepository: Sendable {
    /// The unexpired session with this digest.
    func session(digest: [UInt8], at now: Date) async throws -> BrowserSession?
    /// Stores `session`, first deleting the one with digest `replacing` (if any) without
    /// ending it: the same user signed in again, and the session lives on under a new cookie.
    func insert(_ session: BrowserSession, replacing: [UInt8]?) async throws
    /// Ends the selected sessions and, in the same transaction, revokes the OpenID grants
    /// given in them without `offline_access` (OpenID Connect Core §11: only that scope's
    /// tokens outlive the user's presence), and queues a back-channel logout for every
    /// client that got an ID token in one of them and registered a `backchannel_logout_uri`.
    /// Returns how many sessions ended.
    @discardableResult
    func endSessions(_ selector: SessionSelector, at now: Date) async throws -> Int
    /// Live sessions of signed-in users, of one user when `userID` is given, oldest first.
    func sessionSummaries(userID: String?, at now: Date) async throws -> [SessionSummary]
    /// Replaces the session's CSRF token with `new` if it is still `old`; false when it is not
    /// (another request spent it first).
    func replaceCSRFToken(digest: [UInt8], old: String, new: String) async throws -> Bool
}
