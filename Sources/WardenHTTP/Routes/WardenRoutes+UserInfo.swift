import HTTPTypes
import Hummingbird
import WardenCore

extension WardenRoutes {
    /// OpenID Connect Core §5.3 UserInfo, `GET` and `POST`, the access token presented as
    /// RFC 6750 says (§2.1 header, §2.2 form field), its errors RFC 6750 §3's.
    func addUserInfoRoutes(to router: Router<WardenRequestContext>) {
        let (userInfo, dpop) = (self.userInfo, self.dpop)
        let handler: @Sendable (Request, WardenRequestContext) async throws -> Response = { request, context in
            var presentedWithDPoP = false
            do {
                let (token, scheme) = try await Self.accessToken(request)
                presentedWithDPoP = scheme == .dpop
                // RFC 9449 §7: the DPoP scheme needs a proof for this request, of the token's key.
                var proof: DPoPProof?
                if presentedWithDPoP {
                    proof = try dpop.check(request.headers[values: .dpop], method: request.method.rawValue, path: "/userinfo", accessToken: token)
                    guard proof != nil else { throw OAuthError.invalidDPoPProof(cause: "DPoP scheme without a proof") }
                }
                let claims = try await userInfo.claims(accessToken: token, dpopKey: proof?.thumbprint)
                if let proof { try await dpop.spend(proof) }
                var writer = JSONObjectWriter()
                for (name, value) in claims { writer.add(claim: name, value) }
                var headers = HTTPFields.noStore
                headers[.accessControlAllowOrigin] = "*"
                return JSONBody.response(bytes: writer.finish(), headers: headers)
            } catch let error as BearerFailure {
                context.outcome.failure = error.error
                return Self.bearerErrorResponse(error.error)
            } catch var error as OAuthError {
                context.outcome.failure = error
                if presentedWithDPoP { error.dpopChallenge = true }
                return Self.bearerErrorResponse(error)
            }
        }
        router.get("/userinfo", use: handler)
        router.post("/userinfo", use: handler)
        // The preflight a browser sends before an `Authorization` header crosses origins.
        router.on("/userinfo", method: .options) { _, _ in
            var headers = HTTPFields.anyOrigin
            headers[.accessControlAllowMethods] = "GET, POST"
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type, DPoP"
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
    }

    /// A request RFC 6750 cannot read; nil error: no token at all.
    struct BearerFailure: Error {
        let error: OAuthError?
    }

    /// How an access token was presented.
    enum Scheme { case bearer, dpop }

    /// The one access token the request presents: in `Authorization: Bearer` or `DPoP`
    /// (RFC 9449 §7.1), or (POST) in a form's `access_token`. None is a failure with no
    /// error code (RFC 6750 §3.1); two, or another scheme, `invalid_request`.
    static func accessToken(_ request: Request) async throws -> (String, Scheme) {
        var request = request
        var fromHeader: (String, Scheme)?
        if let authorization = request.authorization {
            // RFC 6750 §2.1: the scheme, one or more spaces, the token.
            let parts = authorization.split(separator: " ", omittingEmptySubsequences: true)
            let scheme: Scheme? = parts.first.flatMap { ["bearer": .bearer, "dpop": .dpop][$0.lowercased()] }
            guard parts.count == 2, let scheme else {
                throw BearerFailure(error: .invalidRequest("The Authorization header must be Bearer or DPoP with one token"))
            }
            fromHeader = (String(parts[1]), scheme)
        }
        var fromForm: String?
        if request.method == .post, request.headers[.contentType] != nil {
            fromForm = try await request.oauthForm()["access_token"]
        }
        switch (fromHeader, fromForm) {
        case (let presented?, nil): return presented
        case (nil, let token?): return (token, .bearer)
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
            case .invalidToken, .invalidDPoPProof: .unauthorized
            case .insufficientScope: .forbidden
            default: .badRequest
            }
        let dpop = error.dpopChallenge || error.code == .invalidDPoPProof
        var challenge = dpop ? #"DPoP error="\#(error.code.rawValue)""# : #"Bearer realm="warden", error="\#(error.code.rawValue)""#
        if let description = error.publicDescription { challenge += #", error_description="\#(description)""# }
        if error.code == .insufficientScope { challenge += #", scope="openid""# }
        // RFC 9449 §7.1: a DPoP challenge names the algorithms proofs may use.
        if dpop { challenge += #", algs="\#(JWSAlgorithm.names.joined(separator: " "))""# }
        headers[.wwwAuthenticate] = challenge
        return JSONBody.response(error.responseFields, status: status, headers: headers)
    }
}
