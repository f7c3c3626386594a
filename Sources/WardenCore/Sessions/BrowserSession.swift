import Foundation

/// A browser's session at the login and consent pages. The cookie carries the id;
/// storage keeps its digest. Anonymous until login, then renewed under a new id.
public struct BrowserSession: Sendable, Equatable {
    public var digest: [UInt8]
    /// Nil before login.
    public var userID: String?
    /// The anti-CSRF token of the forms rendered in this session.
    public var csrfToken: String
    public var authenticatedAt: Date?
    public var expiresAt: Date

    public init(digest: [UInt8], userID: String?, csrfToken: String, authenticatedAt: Date?, expiresAt: Date) {
        self.digest = digest
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

/// Where browser sessions are kept.
public protocol SessionRepository: Sendable {
    /// The unexpired session with this digest.
    func session(digest: [UInt8], at now: Date) async throws -> BrowserSession?
    func insert(_ session: BrowserSession) async throws
    func deleteSession(digest: [UInt8]) async throws
    /// Replaces the session's CSRF token with `new` if it is still `old`; false when it is not
    /// (another request spent it first).
    func replaceCSRFToken(digest: [UInt8], old: String, new: String) async throws -> Bool
}
