import HTTPTypes
import Hummingbird
import WardenCore

extension WardenRoutes {
    /// `/token` (RFC 6749 §3.2), `/introspect` (RFC 7662), `/revoke` (RFC 7009).
    func addTokenRoutes(to router: Router<WardenRequestContext>) {
        router.post("/token") { request, context in
            var request = request
            let form = try await request.oauthForm()
            let (client, response) = try await tokenEndpoint.respond(to: form, authorization: request.authorization, address: context.remoteAddress)
            context.outcome.clientID = client.id
            context.outcome.issued = .init(grantType: form["grant_type"] ?? "", tokenTypes: response.issuedTokenTypes)
            return JSONBody.response(bytes: response.json, headers: .noStore)
        }
        router.post("/introspect") { request, context in
            var request = request
            let form = try await request.oauthForm()
            let (client, response, cached) = try await introspectionEndpoint.introspect(
                form: form, authorization: request.authorization, address: context.remoteAddress)
            context.outcome.clientID = client.id
            context.outcome.introspection = .init(active: response.active, cached: cached)
            return JSONBody.response(bytes: response.json, headers: .noStore)
        }
        router.post("/revoke") { request, context in
            var request = request
            let form = try await request.oauthForm()
            let client = try await revocationEndpoint.revoke(form: form, authorization: request.authorization, address: context.remoteAddress)
            context.outcome.clientID = client.id
            context.outcome.event = .init(name: "token_revoked", fields: [:])
            return Response(status: .ok, headers: .noStore)
        }
        for path in ["/token", "/introspect", "/revoke"] {
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                router.on(RouterPath(path), method: method) { _, _ in Self.methodNotAllowed }
            }
        }
    }

    /// RFC 6749 §3.2: the token endpoint takes POST only (RFC 7009 and 7662 likewise).
    static var methodNotAllowed: Response {
        var headers = HTTPFields.noStore
        headers[.allow] = "POST"
        return JSONBody.response(
            OAuthError.invalidRequest("This endpoint accepts POST only").responseFields, status: .methodNotAllowed, headers: headers)
    }
}
