import Foundation
import WardenCore

/// What the browser pages (`/authorize`, `/login`, `/consent`) call into.
public struct BrowserFlow: Sendable {
    public var authorization: AuthorizationEndpoint
    public var sessions: BrowserSessions
    public var login: Login
    public var users: any UserRepository
    /// Failed logins per username: tight.
    public var failuresPerAccount: FailureRateLimiter
    /// Failed logins per client address: loose, so a shared address is not locked out.
    public var failuresPerAddress: FailureRateLimiter
    public var pages: PageRenderer
    /// `Secure` cookies when the issuer is https.
    public var secureCookies: Bool
    public var clock: any WardenClock

    public init(
        authorization: AuthorizationEndpoint, sessions: BrowserSessions, login: Login, users: any UserRepository,
        failuresPerAccount: FailureRateLimiter, failuresPerAddress: FailureRateLimiter, pages: PageRenderer,
        secureCookies: Bool, clock: any WardenClock
    ) {
        self.authorization = authorization
        self.sessions = sessions
        self.login = login
        self.users = users
        self.failuresPerAccount = failuresPerAccount
        self.failuresPerAddress = failuresPerAddress
        self.pages = pages
        self.secureCookies = secureCookies
        self.clock = clock
    }
}
