import Hummingbird
import WardenCore

extension WardenRoutes {
    /// `/token` (RFC 6749 §3.2), `/introspect` (RFC 7662), `/revoke` (RFC 7009).
    func addTokenRoutes(to router: Router<WardenRequestContext>) {
        router.post("/token") { request, context in
            var request = request
            let form = try await request.oauthForm()
            let (client, response) = try await tokenEndpoint.respond(to: form, authorization: request.authorization)
            context.outcome.clientID = client.id
            return JSONBody.response(response, headers: .noStore)
        }
        router.post("/introspect") { request, context in
            var request = request
            let form = try await request.oauthForm()
            let (client, response) = try await introspectionEndpoint.introspect(form: form, authorization: request.authorization)
            context.outcome.clientID = client.id
            return JSONBody.response(response, headers: .noStore)
        }
        router.post("/revoke") { request, context in
            var request = request
            let form = try await request.oauthForm()
            let client = try await revocationEndpoint.revoke(form: form, authorization: request.authorization)
            context.outcome.clientID = client.id
            return Response(status: .ok, headers: .noStore)
        }
    }
}
