import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import WardenCore

/// The browser pages: `/authorize` (RFC 6749 §4.1.1), the login and consent forms,
/// and their stylesheet. Each route is one method.
struct BrowserController: Sendable {
    static let sessionCookie = "warden_session"
    static let preLoginCookie = "warden_prelogin"
    static let signInReceiptCookie = "warden_signed_in"
    static let queryCharacters = CharacterSet.urlQueryAllowed.union(CharacterSet(charactersIn: "%"))

    let flow: BrowserFlow

    func addRoutes(to router: Router<WardenRequestContext>) {
        router.get("/authorize", use: authorize)
        router.post("/authorize", use: authorize)
        router.post("/login", use: login)
        router.post("/consent", use: consent)
        router.get("/authorize/cancel", use: cancel)
        router.get("/static/warden.css", use: stylesheet)
        router.get("/static/logo", use: logo)
    }

    /// OpenID Connect Core §3.1.2.1: the parameters in the query (GET) or a form body (POST).
    @Sendable func authorize(_ request: Request, context: WardenRequestContext) async throws -> Response {
        var request = request
        let afterPost = request.method == .post
        let query: String
        if afterPost {
            do { query = try await request.formText() } catch let error as OAuthError { return errorPage(flow, error) }
        } else {
            query = request.uri.query ?? ""
        }
        let authorizationRequest: AuthorizationRequest
        switch try await validate(query, flow: flow, after: request.method) {
        case .success(let valid): authorizationRequest = valid
        case .failure(let failure): return failure.response
        }
        let current = try await flow.sessions.current(cookie: request.cookies[Self.sessionCookie]?.value)
        var user: User?
        if let userID = current?.userID { user = try await flow.users.user(id: userID) }
        // Back from the login form for this very request: prompt=login and max_age are met.
        let receipt = request.cookies[Self.signInReceiptCookie]?.value
        let justSignedIn = current.map { flow.receipts.accepts(receipt, sid: $0.sid, query: query) } ?? false
        var response = try await proceed(
            authorizationRequest, query: query, session: user == nil ? nil : current, user: user, justSignedIn: justSignedIn,
            preLoginCookie: request.cookies[Self.preLoginCookie]?.value, afterPost: afterPost)
        if receipt != nil { response.setCookie(cookie(Self.signInReceiptCookie, "", maxAge: 0, path: "/authorize")) }
        return response
    }

    /// The next page for a valid request: the login or consent page, or the response to
    /// the client (a code, or `prompt=none`'s error).
    func proceed(
        _ authorizationRequest: AuthorizationRequest, query: String, session: BrowserSession?, user: User?, justSignedIn: Bool,
        preLoginCookie: String?, afterPost: Bool
    ) async throws -> Response {
        switch try await flow.authorization.nextStep(authorizationRequest, userID: user?.id, session: session, justSignedIn: justSignedIn) {
        case .signIn:
            // Nothing is stored for someone not signed in: the login form's CSRF token
            // rides in a signed cookie (or the session's, when a signed-in user must sign in again).
            let (csrf, newCookie) = flow.formCSRF(session: session, preLoginCookie: preLoginCookie)
            var response = loginPage(flow, authorizationRequest, query: query, csrf: csrf, username: authorizationRequest.loginHint ?? "")
            if let newCookie { response.setCookie(self.cookie(Self.preLoginCookie, newCookie)) }
            return response
        case .consent:
            guard let session, let user else { return errorPage(flow, .invalidRequest("Sign in first")) }
            return flow.pages.page(
                "consent",
                [
                    "title": "Allow \(authorizationRequest.client.name)?", "client_name": authorizationRequest.client.name,
                    "username": user.username, "csrf_token": session.csrfToken,
                    "scopes": authorizationRequest.consentScope.tokens.map { ["name": $0, "description": flow.scopeDescription($0)] },
                    "authorization_request": query,
                ])
        case .issueCode:
            guard let user else { return errorPage(flow, .invalidRequest("Sign in first")) }
            return try await approve(authorizationRequest, userID: user.id, session: session, rememberConsent: false, afterPost: afterPost)
        case .fail(let response):
            return respond(response, client: authorizationRequest.client, afterPost: afterPost)
        }
    }

    @Sendable func login(_ request: Request, context: WardenRequestContext) async throws -> Response {
        var request = request
        let session = try await flow.sessions.current(cookie: request.cookies[Self.sessionCookie]?.value)
        let form: FormBody
        do { form = try await request.oauthForm() } catch let error as OAuthError { return errorPage(flow, error) }
        guard let csrf = form["csrf_token"], flow.acceptsFormCSRF(csrf, session: session, preLoginCookie: request.cookies[Self.preLoginCookie]?.value)
        else { return expiredFormPage(flow) }
        let query = form["authorization_request"] ?? ""
        let authorizationRequest: AuthorizationRequest
        switch try await validate(query, flow: flow, after: .post) {
        case .success(let valid): authorizationRequest = valid
        case .failure(let failure): return failure.response
        }
        let username = form["username"] ?? ""
        let outcome = try await flow.signIn.attempt(
            username: username, password: form["password"] ?? "", address: context.remoteAddress ?? "unknown", replacing: session)
        switch outcome {
        case .rateLimited(let wait):
            context.outcome.event = .init(name: "login_rate_limited", fields: ["username": String(username.prefix(SignIn.maximumUsernameLength))])
            return tooManyAttempts(wait)
        case .failed:
            context.outcome.errorCause = "failed login"
            context.outcome.event = .init(name: "login_failed", fields: ["username": String(username.prefix(SignIn.maximumUsernameLength))])
            return loginPage(flow, authorizationRequest, query: query, csrf: csrf, username: username, error: "Incorrect username or password.")
        case .signedIn(let cookie, let newSession):
            context.outcome.event = .init(name: "login_succeeded", fields: ["username": username, "sub": newSession.userID ?? ""])
            // The query was validated, not re-encoded: encode anything a Location must not carry raw
            // (its percent-escapes are already known to be well formed).
            var response = redirect(
                "/authorize?" + (query.addingPercentEncoding(withAllowedCharacters: Self.queryCharacters) ?? ""), status: .seeOther)
            response.setCookie(self.cookie(Self.sessionCookie, cookie.value))
            response.setCookie(self.cookie(Self.preLoginCookie, "", maxAge: 0))
            response.setCookie(
                self.cookie(
                    Self.signInReceiptCookie, flow.receipts.receipt(sid: newSession.sid, query: query), maxAge: 300, path: "/authorize"))
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
        switch try await validate(form["authorization_request"] ?? "", flow: flow, after: .post) {
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
        guard decision == "allow" else {
            return respond(try await flow.authorization.deny(authorizationRequest), client: authorizationRequest.client, afterPost: true)
        }
        return try await approve(authorizationRequest, userID: userID, session: session, rememberConsent: true, afterPost: true)
    }

    /// Issues the code and sends it; a pushed request another tab already finished gets the error page.
    func approve(
        _ authorizationRequest: AuthorizationRequest, userID: String, session: BrowserSession?, rememberConsent: Bool, afterPost: Bool
    ) async throws -> Response {
        do {
            let response = try await flow.authorization.approve(
                authorizationRequest, userID: userID, session: session, rememberConsent: rememberConsent)
            return respond(response, client: authorizationRequest.client, afterPost: afterPost)
        } catch AuthorizationFailure.page(let error) {
            return errorPage(flow, error)
        }
    }

    /// Sends the authorization response the way the request asked: a redirect (303 after
    /// a POST, RFC 9700 §4.12), or a page that POSTs it (form_post).
    func respond(_ response: AuthorizationResponse, client: Client?, afterPost: Bool) -> Response {
        guard response.mode == .formPost else { return redirect(response.location, status: afterPost ? .seeOther : .found) }
        return flow.pages.page(
            "form_post",
            [
                "title": "Continue", "client_name": client?.name ?? "the application", "redirect_uri": response.redirectURI,
                "parameters": response.parameters.map { ["name": $0.name, "value": $0.value] }, "script": Self.formPostScript,
            ],
            scriptHash: Self.formPostScriptHash)
    }

    static let formPostScript = #"document.getElementById("response").submit();"#
    static let formPostScriptHash = Data(SHA256.hash(data: Data(formPostScript.utf8))).base64EncodedString()

    /// The login page's cancel link: back to the client with `access_denied` (RFC 6749
    /// §4.1.2.1), as a denied consent would; the request is validated like any other.
    @Sendable func cancel(_ request: Request, context: WardenRequestContext) async throws -> Response {
        switch try await validate(request.uri.query ?? "", flow: flow) {
        case .success(let valid): respond(try await flow.authorization.deny(valid), client: valid.client, afterPost: false)
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
    /// POST, RFC 9700 §4.12). A failure of the database below is thrown, for the error middleware.
    func validate(_ query: String, flow: BrowserFlow, after method: HTTPRequest.Method = .get) async throws -> Result<AuthorizationRequest, ResponseFailure> {
        do {
            return .success(try await flow.authorization.validate(try FormBody(parsing: Array(query.utf8))))
        } catch let failure as AuthorizationFailure {
            switch failure {
            case .page(let error): return .failure(ResponseFailure(errorPage(flow, error)))
            case .redirect(let response): return .failure(ResponseFailure(respond(response, client: nil, afterPost: method == .post)))
            }
        } catch let error as OAuthError {
            return .failure(ResponseFailure(errorPage(flow, error)))
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

    /// 429 with `Retry-After`: too many failed attempts from here.
    func tooManyAttempts(_ wait: Int) -> Response {
        var headers = HTTPFields()
        headers[.retryAfter] = "\(wait)"
        return flow.pages.page("error", ErrorPageText.tooManyAttempts(retryAfter: wait), status: .tooManyRequests, headers: headers)
    }

    func expiredFormPage(_ flow: BrowserFlow) -> Response {
        flow.pages.page("error", ErrorPageText.expiredForm, status: .forbidden)
    }

    func redirect(_ location: String, status: HTTPResponse.Status) -> Response {
        var headers = PageRenderer.securityHeaders
        headers[.location] = location
        return Response(status: status, headers: headers)
    }

    func cookie(_ name: String, _ value: String, maxAge: Int? = nil, path: String = "/") -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: flow.secureCookies, httpOnly: true, sameSite: .lax)
    }
}

/// A response standing in for a failed step, so that validation can hand it back.
struct ResponseFailure: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}
