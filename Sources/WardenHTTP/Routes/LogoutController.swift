import Foundation
import HTTPTypes
import Hummingbird
import WardenCore

/// OpenID Connect RP-Initiated Logout 1.0: `GET` and `POST /logout`, its confirmation
/// page and the signed-out page. Ending a session queues its back-channel logouts.
struct LogoutController: Sendable {
    let browser: BrowserController
    var flow: BrowserFlow { browser.flow }

    func addRoutes(to router: Router<WardenRequestContext>) {
        router.get("/logout") { request, context in
            let form: FormBody
            do { form = try FormBody(parsing: Array((request.uri.query ?? "").utf8)) } catch let error as OAuthError {
                return browser.errorPage(flow, error)
            }
            return try await logout(request, context: context, form: form, afterPost: false)
        }
        router.post("/logout") { request, context in
            var request = request
            let form: FormBody
            do { form = try await request.oauthForm() } catch let error as OAuthError { return browser.errorPage(flow, error) }
            return try await logout(request, context: context, form: form, afterPost: true)
        }
    }

    func logout(_ request: Request, context: WardenRequestContext, form: FormBody, afterPost: Bool) async throws -> Response {
        let logoutRequest: LogoutEndpoint.Request
        do { logoutRequest = try await flow.logout.validate(form) } catch let error as OAuthError {
            return browser.errorPage(flow, error)
        }
        let session = try await flow.sessions.current(cookie: request.cookies[BrowserController.sessionCookie]?.value)
        // The confirmation page's form, posted back (never a URL's: a token in a URL leaks to logs and referrers).
        if afterPost, let csrf = form["csrf_token"] {
            guard let session, session.acceptsCSRF(csrf) else { return browser.expiredFormPage(flow) }
            return try await end(session, then: logoutRequest, afterPost: afterPost, context: context)
        }
        guard let session, let userID = session.userID, let user = try await flow.users.user(id: userID) else {
            // A browser sends no SameSite=Lax cookie with another site's POST: the session
            // may exist unseen. Posted again from this origin's own page, it is seen.
            if afterPost, form["same_origin"] == nil, request.cookies[BrowserController.sessionCookie] == nil {
                return confirmationPage(form, logoutRequest, session: nil, username: nil)
            }
            return finish(logoutRequest, afterPost: afterPost)  // nobody is signed in: nothing to end
        }
        // §2: a hint naming this very session proves the request comes from one of its applications.
        if logoutRequest.isFrom(session) { return try await end(session, then: logoutRequest, afterPost: afterPost, context: context) }
        return confirmationPage(form, logoutRequest, session: session, username: user.username)
    }

    /// "Sign out?": with a session, its CSRF token ends it when posted back; without one
    /// (a cross-site POST carried no cookie), the request is posted again from here, hint
    /// included, so that the session, if any, is seen.
    func confirmationPage(_ form: FormBody, _ logoutRequest: LogoutEndpoint.Request, session: BrowserSession?, username: String?) -> Response {
        var parameters: [[String: String]] = []
        if let clientID = logoutRequest.client?.id { parameters.append(["name": "client_id", "value": clientID]) }
        for name in ["post_logout_redirect_uri", "state"] + (session == nil ? ["id_token_hint"] : []) {
            if let value = form[name] { parameters.append(["name": name, "value": value]) }
        }
        if session == nil { parameters.append(["name": "same_origin", "value": "1"]) }
        var values: [String: Any] = [
            "title": "Sign out?", "client_name": logoutRequest.client?.name ?? "", "parameters": parameters,
        ]
        if let username { values["username"] = username }
        if let session { values["csrf_token"] = session.csrfToken }
        return flow.pages.page("logout", values)
    }

    func end(
        _ session: BrowserSession, then logoutRequest: LogoutEndpoint.Request, afterPost: Bool, context: WardenRequestContext
    ) async throws -> Response {
        try await flow.sessions.logOut(session)
        context.outcome.event = .init(name: "session_ended", fields: ["sub": session.userID ?? "", "sid": session.sid])
        flow.sessionEnded()
        var response = finish(logoutRequest, afterPost: afterPost)
        response.setCookie(browser.cookie(BrowserController.sessionCookie, "", maxAge: 0))
        return response
    }

    /// To the client's registered `post_logout_redirect_uri` (303 after a POST), or the signed-out page.
    func finish(_ logoutRequest: LogoutEndpoint.Request, afterPost: Bool) -> Response {
        if let redirect = logoutRequest.redirect { return browser.redirect(redirect, status: afterPost ? .seeOther : .found) }
        return flow.pages.page("signed_out", ["title": "Signed out"])
    }
}
