import WardenCore

extension BrowserFlow {
    /// The anti-CSRF token a form page carries: the session's when someone is signed in,
    /// else the pre-login cookie's. Nothing is stored for someone not signed in, so a
    /// missing cookie is issued here: `newCookie` is its value, to be set with the page.
    func formCSRF(session: BrowserSession?, preLoginCookie: String?) -> (token: String, newCookie: String?) {
        if let session, session.userID != nil { return (session.csrfToken, nil) }
        if let csrf = preLogin.csrfToken(from: preLoginCookie) { return (csrf, nil) }
        let (cookie, csrf) = preLogin.issue()
        return (csrf, cookie)
    }

    /// Whether a posted form's `token` is the pre-login cookie's or the session's.
    func acceptsFormCSRF(_ token: String?, session: BrowserSession?, preLoginCookie: String?) -> Bool {
        guard let token else { return false }
        let preLoginCSRF = preLogin.csrfToken(from: preLoginCookie)
        return preLoginCSRF.map { ConstantTime.equals(Array($0.utf8), Array(token.utf8)) } == true || session?.acceptsCSRF(token) == true
    }
}
