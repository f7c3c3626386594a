import WardenCore

/// What the error page says to a person: a heading that names what happened, the
/// reason, and what to do next. The OAuth error code is there too, small, for the
/// application's developer.
enum ErrorPageText {
    static let advice = "Go back to the application and start again. If it happens again, tell the application's developer the code below."

    /// The page's values for `error`.
    static func values(for error: OAuthError) -> [String: Any] {
        let heading =
            switch error.code {
            case .invalidClient, .unauthorizedClient: "This application cannot sign you in here"
            case .accessDenied: "Sign-in was cancelled"
            default: "This sign-in cannot continue"
            }
        return [
            "title": heading, "heading": heading, "error": error.code.rawValue,
            "description": error.publicDescription ?? "The request was not valid.", "advice": advice,
        ]
    }

    /// A login or consent form posted too late, twice, or from another browser.
    static var expiredForm: [String: Any] {
        [
        "title": "This page has expired", "heading": "This page has expired", "error": "invalid_request",
        "description": "This form has expired or was not sent by this browser.",
        "advice": "Go back to the application and sign in again.",
        ]
    }

    /// The server cannot answer now: its database is unreachable or full.
    static var unavailable: [String: Any] {
        [
            "title": "Try again in a moment", "heading": "Try again in a moment", "error": "temporarily_unavailable",
            "description": "The sign-in service is temporarily unavailable.",
            "advice": "Wait a moment, then reload this page.",
        ]
    }

    /// Too many failed sign-ins.
    static func tooManyAttempts(retryAfter seconds: Int) -> [String: Any] {
        [
            "title": "Too many attempts", "heading": "Too many attempts", "error": "too_many_attempts",
            "description": "Too many failed sign-ins. Try again in \(seconds) seconds.",
            "advice": "Wait a little, then try again. Check that Caps Lock is off.",
        ]
    }
}
