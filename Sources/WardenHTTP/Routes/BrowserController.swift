import Foundation
import HTTPTypes
import Hummingbird
import WardenCore

/// The browser pages: `/authorize` (RFC 6749 §4.1.1), the login and consent forms,
/// and their stylesheet. Each route is one method.
struct BrowserController: Sendable {
    static let sessionCookie = "warden_session"
    static let preLoginCookie = "warden_prelogin"
    static let queryCharacters = CharacterSet.urlQueryAllowed.union(CharacterSet(charactersIn: "%"))

    let flow: BrowserFlow

    func addRoutes(to router: Router<WardenRequestContext>) {
        router.get("/authorize", use: authorize)
        router.post("/login", use: login)
        router.post("/consent", use: consent)
        router.get("/authorize/cancel", use: cancel)
        router.get("/static/warden.css", use: stylesheet)
        router.get("/static/logo", use: logo)
    }

    @Sendable func authorize(_ request: Request, context: WardenRequestContext) async throws -> Response {
        let query = request.uri.query ?? ""
        let authorizationRequest: AuthorizationRequest
        switch await validate(query, flow: flow) {
        case .success(let valid): authorizationRequest = valid
        case .failure(let failure): return failure.response
        }
        let current = try await flow.sessions.current(cookie: request.cookies[Self.sessionCookie]?.value)
        guard let session = current, let userID = session.userID, let user = try await flow.users.user(id: userID) else {
            // Not signed in: nothing is stored; the login form's CSRF token rides in a signed cookie.
            if let csrf = flow.preLogin.csrfToken(from: request.cookies[Self.preLoginCookie]?.value) {
                return loginPage(flow, authorizationRequest, query: query, csrf: csrf)
            }
            let (cookie, csrf) = flow.preLogin.issue()
            var response = loginPage(flow, authorizationRequest, query: query, csrf: csrf)
            response.setCookie(self.cookie(Self.preLoginCookie, cookie))
            return response
        }
        if try await flow.authorization.needsConsent(authorizationRequest, userID: userID) {
            return flow.pages.page(
                "consent",
                [
                    "title": "Allow \(authorizationRequest.client.name)?", "client_name": authorizationRequest.client.name,
                    "username": user.username, "csrf_token": session.csrfToken,
                    "scopes": authorizationRequest.scope.tokens.map { ["name": $0, "description": flow.scopeDescription($0)] },
                    "authorization_request": query,
                ])
        }
        return redirect(try await flow.authorization.approve(authorizationRequest, userID: userID, rememberConsent: false), status: .found)
    }

    @Sendable func login(_ request: Request, context: WardenRequestContext) async throws -> Response {
        var request = request
        let session = try await flow.sessions.current(cookie: request.cookies[Self.sessionCookie]?.value)
        let form: FormBody
        do { form = try await request.oauthForm() } catch let error as OAuthError { return errorPage(flow, error) }
        let preLoginCSRF = flow.preLogin.csrfToken(from: request.cookies[Self.preLoginCookie]?.value)
        guard let csrf = form["csrf_token"],
            preLoginCSRF.map({ ConstantTime.equals(Array($0.utf8), Array(csrf.utf8)) }) == true || session?.acceptsCSRF(csrf) == true
        else { return expiredFormPage(flow) }
        let query = form["authorization_request"] ?? ""
        let authorizationRequest: AuthorizationRequest
        switch await validate(query, flow: flow, after: .post) {
        case .success(let valid): authorizationRequest = valid
        case .failure(let failure): return failure.response
        }
        let username = form["username"] ?? ""
        let outcome = try await flow.signIn.attempt(
            username: username, password: form["password"] ?? "", address: context.remoteAddress ?? "unknown", replacing: session)
        switch outcome {
        case .rateLimited(let wait):
            var headers = HTTPFields()
            headers[.retryAfter] = "\(wait)"
            return flow.pages.page("error", ErrorPageText.tooManyAttempts(retryAfter: wait), status: .tooManyRequests, headers: headers)
        case .failed:
            context.outcome.errorCause = "failed login"
            return loginPage(flow, authorizationRequest, query: query, csrf: csrf, username: username, error: "Incorrect username or password.")
        case .signedIn(let cookie):
            // The query was validated, not re-encoded: encode anything a Location must not carry raw
            // (its percent-escapes are already known to be well formed).
            var response = redirect(
                "/authorize?" + (query.addingPercentEncoding(withAllowedCharacters: Self.queryCharacters) ?? ""), status: .seeOther)
            response.setCookie(self.cookie(Self.sessionCookie, cookie.value))
            response.setCookie(self.cookie(Self.preLoginCookie, "", maxAge: 0))
            return response
        }
    }

    @Sendable func consent(_ request: Request, context: WardenRequestContext) async throws -> Response {
        var request = request
        let session = try await flow.sessions.current(cookie: request.cookies[Self.sessionCookie]?.value)
        let form: FormBody
        do { form = try await request.oauthForm() } catch let error as OAuthError { return errorPage(flow, error) }
        guard let session, let userID = session.userID, session.acceptsCSRF(form["csrf_token"]) else {
            return expiredFormPage(flow)
        }
        let authorizationRequest: AuthorizationRequest
        switch await validate(form["authorization_request"] ?? "", flow: flow, after: .post) {
        case .success(let valid): authorizationRequest = valid
        case .failure(let failure): return failure.response
        }
        let decision = form["decision"]
        guard decision == "allow" || decision == "deny" else {
            return errorPage(flow, .invalidRequest("decision must be allow or deny"))
        }
        // One decision per consent form: a replayed post finds its token spent.
        guard try await flow.sessions.spendCSRFToken(of: session) else { return expiredFormPage(flow) }
        // RFC 9700 §4.12: 303 after a POST, so the browser does not re-post the form.
        guard decision == "allow" else { return redirect(flow.authorization.deny(authorizationRequest), status: .seeOther) }
        return redirect(try await flow.authorization.approve(authorizationRequest, userID: userID, rememberConsent: true), status: .seeOther)
    }

    /// The login page's cancel link: back to the client with `access_denied` (RFC 6749
    /// §4.1.2.1), as a denied consent would; the request is validated like any other.
    @Sendable func cancel(_ request: Request, context: WardenRequestContext) async throws -> Response {
        switch await validate(request.uri.query ?? "", flow: flow) {
        case .success(let valid): redirect(flow.authorization.deny(valid), status: .found)
        case .failure(let failure): failure.response
        }
    }

    @Sendable func logo(_ request: Request, context: WardenRequestContext) async throws -> Response {
        guard let logo = flow.pages.logo else { return Response(status: .notFound) }
        var headers = HTTPFields()
        headers[.contentType] = logo.contentType
        headers[.cacheControl] = "public, max-age=3600"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: logo.bytes)))
    }

    @Sendable func stylesheet(_ request: Request, context: WardenRequestContext) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/css; charset=utf-8"
        headers[.cacheControl] = "public, max-age=3600"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: PageTemplates.stylesheet)))
    }

    /// The validated request, or the response its failure calls for: an error page
    /// when the client or redirect URI cannot be trusted, else a redirect (303 after a
    /// POST, RFC 9700 §4.12).
    func validate(_ query: String, flow: BrowserFlow, after method: HTTPRequest.Method = .get) async -> Result<AuthorizationRequest, ResponseFailure> {
        do {
            return .success(try await flow.authorization.validate(try FormBody(parsing: Array(query.utf8))))
        } catch let failure as AuthorizationFailure {
            switch failure {
            case .page(let error): return .failure(ResponseFailure(errorPage(flow, error)))
            case .redirect(let url): return .failure(ResponseFailure(redirect(url, status: method == .post ? .seeOther : .found)))
            }
        } catch let error as OAuthError {
            return .failure(ResponseFailure(errorPage(flow, error)))
        } catch {
            return .failure(ResponseFailure(errorPage(flow, OAuthError(.invalidRequest, "The request could not be processed", cause: "\(error)"), status: .internalServerError)))
        }
    }

    func loginPage(
        _ flow: BrowserFlow, _ request: AuthorizationRequest, query: String, csrf: String, username: String = "", error: String? = nil
    ) -> Response {
        var values: [String: Any] = [
            "title": "Sign in to \(request.client.name)", "client_name": request.client.name, "csrf_token": csrf,
            "authorization_request": query, "username": username,
        ]
        if let error {
            values["error"] = error
            values["failed"] = true  // the username stays filled in: focus goes to the password
        }
        return flow.pages.page("login", values)
    }

    func errorPage(_ flow: BrowserFlow, _ error: OAuthError, status: HTTPResponse.Status = .badRequest) -> Response {
        flow.pages.page("error", ErrorPageText.values(for: error), status: status)
    }

    func expiredFormPage(_ flow: BrowserFlow) -> Response {
        flow.pages.page("error", ErrorPageText.expiredForm, status: .forbidden)
    }

    func redirect(_ location: String, status: HTTPResponse.Status) -> Response {
        var headers = PageRenderer.securityHeaders
        headers[.location] = location
        return Response(status: status, headers: headers)
    }

    func cookie(_ name: String, _ value: String, maxAge: Int? = nil) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: flow.secureCookies, httpOnly: true, sameSite: .lax)
    }
}

/// A response standing in for a failed step, so that validation can hand it back.
struct ResponseFailure: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}
