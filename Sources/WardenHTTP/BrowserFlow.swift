import Foundation
import WardenCore

/// What the browser pages (`/authorize`, `/login`, `/consent`, `/device`) call into.
public struct BrowserFlow: Sendable {
    public var authorization: AuthorizationEndpoint
    public var sessions: BrowserSessions
    /// The login form's CSRF token before a session exists.
    public var preLogin: PreLoginCookies
    public var signIn: SignIn
    /// The device flow's pages (RFC 8628 §3.3).
    public var device: DeviceVerification
    /// The proof, from the login form to `/authorize`, that the user just signed in.
    public var receipts: SignInReceipts
    /// RP-Initiated Logout.
    public var logout: LogoutEndpoint
    /// Called when a session ends here, so that its back-channel logouts go out at once.
    public var sessionEnded: @Sendable () -> Void
    public var users: any UserRepository
    public var pages: PageRenderer
    /// `Secure` cookies when the issuer is https.
    public var secureCookies: Bool
    /// What each scope means, in words for the consent page (`scope_descriptions` over the built-ins).
    public var scopeDescriptions: [String: String]

    /// Words for the standard scopes (OpenID Connect Core §5.4, §11).
    public static let standardScopeDescriptions = [
        "openid": "Know who you are when you sign in",
        "profile": "See your name and username",
        "email": "See your email address",
        "address": "See your postal address",
        "phone": "See your phone number",
        "offline_access": "Keep access while you are not using it",
    ]

    /// The words for `scope`, or a plain phrase naming it.
    func scopeDescription(_ scope: String) -> String {
        scopeDescriptions[scope] ?? Self.standardScopeDescriptions[scope] ?? "Use the permission “\(scope)”"
    }

    public init(
        authorization: AuthorizationEndpoint, sessions: BrowserSessions, preLogin: PreLoginCookies, signIn: SignIn,
        device: DeviceVerification, receipts: SignInReceipts, logout: LogoutEndpoint, sessionEnded: @escaping @Sendable () -> Void = {}, users: any UserRepository,
        pages: PageRenderer, secureCookies: Bool, scopeDescriptions: [String: String] = [:]
    ) {
        self.receipts = receipts
        self.device = device
        self.logout = logout
        self.sessionEnded = sessionEnded
        self.scopeDescriptions = scopeDescriptions
        self.authorization = authorization
        self.sessions = sessions
        self.preLogin = preLogin
        self.signIn = signIn
        self.users = users
        self.pages = pages
        self.secureCookies = secureCookies
    }
}
