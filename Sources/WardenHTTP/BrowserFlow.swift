import Foundation
import WardenCore

/// What the browser pages (`/authorize`, `/login`, `/consent`) call into.
public struct BrowserFlow: Sendable {
    public var authorization: AuthorizationEndpoint
    public var sessions: BrowserSessions
    /// The login form's CSRF token before a session exists.
    public var preLogin: PreLoginCookies
    public var signIn: SignIn
    public var users: any UserRepository
    public var pages: PageRenderer
    /// `Secure` cookies when the issuer is https.
    public var secureCookies: Bool

    public init(
        authorization: AuthorizationEndpoint, sessions: BrowserSessions, preLogin: PreLoginCookies, signIn: SignIn,
        users: any UserRepository,
        pages: PageRenderer, secureCookies: Bool
    ) {
        self.authorization = authorization
        self.sessions = sessions
        self.preLogin = preLogin
        self.signIn = signIn
        self.users = users
        self.pages = pages
        self.secureCookies = secureCookies
    }
}
