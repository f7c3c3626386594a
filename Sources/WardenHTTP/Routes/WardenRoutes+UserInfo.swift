import HTTPTypes
import Hummingbird
import WardenCore

extension WardenRoutes {
    /// OpenID Connect Core §5.3 UserInfo, `GET` and `POST`, the access token presented as
    /// RFC 6750 says (§2.1 header, §2.2 form field), its errors RFC 6750 §3's.
    func addUserInfoRoutes(to router: Router<WardenRequestContext>) {
        let userInfo = self.userInfo
        let handler: @Sendable (Request, WardenRequestContext) async throws -> Response = { request, context in
            do {
                let token = try await Self.bearerToken(request)
                var writer = JSONObjectWriter()
                for (name, value) in try await userInfo.claims(accessToken: token) { writer.add(claim: name, value) }
                var headers = HTTPFields.noStore
                headers[.accessControlAllowOrigin] = "*"
                return JSONBody.response(bytes: writer.finish(), headers: headers)
            } catch let error as BearerFailure {
                context.outcome.failure = error.error
                return Self.bearerErrorResponse(error.error)
            } catch let error as OAuthError {
                context.outcome.failure = error
                return Self.bearerErrorResponse(error)
            }
        }
        router.get("/userinfo", use: handler)
        router.post("/userinfo", use: handler)
        // The preflight a browser sends before an `Authorization` header crosses origins.
        router.on("/userinfo", method: .options) { _, _ in
            var headers = HTTPFields.anyOrigin
            headers[.accessControlAllowMethods] = "GET, POST"
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
    }

    /// A request RFC 6750 cannot read; nil error: no token at all.
    struct BearerFailure: Error {
        let error: OAuthError?
    }

    /// The one access token the request presents: in `Authorization: Bearer`, or (POST)
    /// in a form's `access_token`. None is a failure with no error code (§3.1); two, or
    /// another scheme, `invalid_request`.
    static func bearerToken(_ request: Request) async throws -> String {
        var request = request
        var fromHeader: String?
        if let authorization = request.authorization {
            // RFC 6750 §2.1: the scheme, one or more spaces, the token.
            let parts = authorization.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw BearerFailure(error: .invalidRequest("The Authorization header must be Bearer with one token"))
            }
            fromHeader = String(parts[1])
        }
        var fromForm: String?
        if request.method == .post, request.headers[.contentType] != nil {
            fromForm = try await request.oauthForm()["access_token"]
        }
        switch (fromHeader, fromForm) {
        case (let token?, nil), (nil, let token?): return token
        case (nil, nil): throw BearerFailure(error: nil)
        case (.some, .some): throw BearerFailure(error: .invalidRequest("Present the access token one way only"))
        }
    }

    /// RFC 6750 §3: the status of each error and its `WWW-Authenticate` challenge.
    static func bearerErrorResponse(_ error: OAuthError?) -> Response {
        var headers = HTTPFields.noStore
        headers[.accessControlAllowOrigin] = "*"
        guard let error else {
            headers[.wwwAuthenticate] = #"Bearer realm="warden""#
            return Response(status: .unauthorized, headers: headers)
        }
        let status: HTTPResponse.Status =
            switch error.code {
            case .invalidToken: .unauthorized
            case .insufficientScope: .forbidden
            default: .badRequest
            }
        var challenge = #"Bearer realm="warden", error="\#(error.code.rawValue)""#
        if let description = error.publicDescription { challenge += #", error_description="\#(description)""# }
        if error.code == .insufficientScope { challenge += #", scope="openid""# }
        headers[.wwwAuthenticate] = challenge
        return JSONBody.response(error.responseFields, status: status, headers: headers)
    }
}
