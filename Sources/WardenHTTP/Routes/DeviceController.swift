import HTTPTypes
import Hummingbird
import WardenCore

/// The device flow's pages (RFC 8628 §3.3): code entry at `/device`, sign-in, a consent
/// page that warns against codes someone else sent, and a done page. Headers, cookies
/// and CSRF rules are the login and consent pages'. Every lookup of a typed code counts
/// against the address's sign-in failure budget (`DeviceVerification`).
struct DeviceController: Sendable {
    let browser: BrowserController
    let device: DeviceVerification
    var flow: BrowserFlow { browser.flow }

    func addRoutes(to router: Router<WardenRequestContext>) {
        router.get("/device", use: entry)
        router.post("/device", use: submitCode)
        router.post("/device/login", use: login)
        router.get("/device/consent", use: consentPage)
        router.post("/device/consent", use: decide)
    }

    /// The code entry page; `verification_uri_complete`'s `user_code` fills the field.
    @Sendable func entry(_ request: Request, context: WardenRequestContext) async throws -> Response {
        let session = try await signedInSession(request)
        return entryPage(request, session: session, userCode: request.uri.queryParameters["user_code"].map(String.init) ?? "")
    }

    @Sendable func submitCode(_ request: Request, context: WardenRequestContext) async throws -> Response {
        var request = request
        let form: FormBody
        do { form = try await request.oauthForm() } catch let error as OAuthError { return browser.errorPage(flow, error) }
        let session = try await signedInSession(request)
        let preLoginCookie = request.cookies[BrowserController.preLoginCookie]?.value
        guard let csrf = form["csrf_token"], flow.acceptsFormCSRF(csrf, session: session, preLoginCookie: preLoginCookie) else {
            return browser.expiredFormPage(flow)
        }
        let typed = form["user_code"] ?? ""
        switch try await lookup(typed, request: request, context: context, session: session) {
        case .failure(let failure): return failure.response
        case .success(let (record, client)):
            if session != nil { return consentRedirect(record) }
            return loginPage(record, client, csrf: csrf)
        }
    }

    @Sendable func login(_ request: Request, context: WardenRequestContext) async throws -> Response {
        var request = request
        let form: FormBody
        do { form = try await request.oauthForm() } catch let error as OAuthError { return browser.errorPage(flow, error) }
        let session = try await flow.sessions.current(cookie: request.cookies[BrowserController.sessionCookie]?.value)
        let preLoginCookie = request.cookies[BrowserController.preLoginCookie]?.value
        guard let csrf = form["csrf_token"], flow.acceptsFormCSRF(csrf, session: session, preLoginCookie: preLoginCookie) else {
            return browser.expiredFormPage(flow)
        }
        let (record, client): (DeviceAuthorizationRecord, Client)
        switch try await lookup(form["user_code"] ?? "", request: request, context: context, session: nil) {
        case .failure(let failure): return failure.response
        case .success(let found): (record, client) = found
        }
        let username = form["username"] ?? ""
        let outcome = try await flow.signIn.attempt(
            username: username, password: form["password"] ?? "", address: context.remoteAddress ?? "unknown", replacing: session)
        let loggedName = String(username.prefix(SignIn.maximumUsernameLength))
        switch outcome {
        case .rateLimited(let wait):
            context.outcome.event = .init(name: "login_rate_limited", fields: ["username": loggedName])
            return browser.tooManyAttempts(wait)
        case .failed:
            context.outcome.errorCause = "failed login"
            context.outcome.event = .init(name: "login_failed", fields: ["username": loggedName])
            return loginPage(record, client, csrf: csrf, failedUsername: username)
        case .signedIn(let cookie, let newSession):
            context.outcome.event = .init(name: "login_succeeded", fields: ["username": username, "sub": newSession.userID ?? ""])
            var response = consentRedirect(record)
            response.setCookie(browser.cookie(BrowserController.sessionCookie, cookie.value))
            response.setCookie(browser.cookie(BrowserController.preLoginCookie, "", maxAge: 0))
            return response
        }
    }

    @Sendable func consentPage(_ request: Request, context: WardenRequestContext) async throws -> Response {
        let typed = request.uri.queryParameters["user_code"].map(String.init) ?? ""
        guard let session = try await signedInSession(request), let userID = session.userID,
            let user = try await flow.users.user(id: userID)
        else { return entryPage(request, session: nil, userCode: typed) }
        switch try await lookup(typed, request: request, context: context, session: session) {
        case .failure(let failure): return failure.response
        case .success(let (record, client)):
            return flow.pages.page(
                "device_consent",
                [
                    "title": "Allow \(client.name)?", "client_name": client.name, "username": user.username,
                    "csrf_token": session.csrfToken, "user_code": UserCode.display(record.userCode),
                    "scopes": record.scope.tokens.map { ["name": $0, "description": flow.scopeDescription($0)] },
                ])
        }
    }

    @Sendable func decide(_ request: Request, context: WardenRequestContext) async throws -> Response {
        var request = request
        let form: FormBody
        do { form = try await request.oauthForm() } catch let error as OAuthError { return browser.errorPage(flow, error) }
        guard let session = try await signedInSession(request), let userID = session.userID, session.acceptsCSRF(form["csrf_token"]) else {
            return browser.expiredFormPage(flow)
        }
        let decision = form["decision"]
        guard decision == "allow" || decision == "deny" else {
            return browser.errorPage(flow, .invalidRequest("decision must be allow or deny"))
        }
        let (record, client): (DeviceAuthorizationRecord, Client)
        switch try await lookup(form["user_code"] ?? "", request: request, context: context, session: session) {
        case .failure(let failure): return failure.response
        case .success(let found): (record, client) = found
        }
        // One decision per consent form: a replayed post finds its token spent.
        guard try await flow.sessions.spendCSRFToken(of: session) else { return browser.expiredFormPage(flow) }
        let allowed = decision == "allow"
        let decided = allowed ? try await device.approve(record, userID: userID, session: session) : try await device.deny(record)
        guard decided else { return notFoundPage(request, session: session) }
        context.outcome.clientID = client.id
        context.outcome.event = .init(name: allowed ? "device_approved" : "device_denied", fields: ["sub": userID])
        return flow.pages.page(
            "device_done",
            allowed
                ? ["title": "Device connected", "heading": "You're all set", "message": "Return to your device: \(client.name) is signing you in there. You can close this window."]
                : ["title": "Request denied", "heading": "Request denied", "message": "The device was not given access. You can close this window."])
    }

    // MARK: - Helpers

    /// The session of whoever is signed in, if anyone.
    func signedInSession(_ request: Request) async throws -> BrowserSession? {
        let session = try await flow.sessions.current(cookie: request.cookies[BrowserController.sessionCookie]?.value)
        return session?.userID == nil ? nil : session
    }

    /// The pending request `typed` names, or the page that says why there is none.
    func lookup(
        _ typed: String, request: Request, context: WardenRequestContext, session: BrowserSession?
    ) async throws -> Result<(DeviceAuthorizationRecord, Client), ResponseFailure> {
        switch try await device.lookup(typed, address: context.remoteAddress ?? "unknown") {
        case .found(let record, let client): return .success((record, client))
        case .rateLimited(let wait):
            context.outcome.event = .init(name: "device_code_rate_limited", fields: [:])
            return .failure(ResponseFailure(browser.tooManyAttempts(wait)))
        case .notFound:
            context.outcome.errorCause = "unknown or expired user code"
            return .failure(ResponseFailure(notFoundPage(request, session: session, userCode: typed)))
        }
    }

    func entryPage(_ request: Request, session: BrowserSession?, userCode: String, error: String? = nil) -> Response {
        let (csrf, newCookie) = flow.formCSRF(session: session, preLoginCookie: request.cookies[BrowserController.preLoginCookie]?.value)
        var values: [String: Any] = ["title": "Connect a device", "csrf_token": csrf, "user_code": String(userCode.prefix(16))]
        if let error { values["error"] = error }
        var response = flow.pages.page("device", values, status: error == nil ? .ok : .badRequest)
        if let newCookie { response.setCookie(browser.cookie(BrowserController.preLoginCookie, newCookie)) }
        return response
    }

    /// The sign-in form for `record`'s client; after a failed attempt, with its username and the error.
    func loginPage(_ record: DeviceAuthorizationRecord, _ client: Client, csrf: String, failedUsername: String? = nil) -> Response {
        var values: [String: Any] = [
            "title": "Sign in to \(client.name)", "client_name": client.name, "csrf_token": csrf, "user_code": UserCode.display(record.userCode),
        ]
        if let failedUsername {
            values["username"] = failedUsername
            values["failed"] = true  // the username stays filled in: focus goes to the password
            values["error"] = "Incorrect username or password."
        }
        return flow.pages.page("device_login", values)
    }

    func notFoundPage(_ request: Request, session: BrowserSession?, userCode: String = "") -> Response {
        entryPage(
            request, session: session, userCode: userCode,
            error: "That code is not valid, or it has expired or been used. Check the code on your device and try again.")
    }

    func consentRedirect(_ record: DeviceAuthorizationRecord) -> Response {
        browser.redirect("/device/consent?user_code=" + UserCode.display(record.userCode), status: .seeOther)
    }
}
