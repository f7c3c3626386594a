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
            let (client, revoked) = try await revocationEndpoint.revoke(
                form: form, authorization: request.authorization, address: context.remoteAddress)
            context.outcome.clientID = client.id
            switch revoked {
            case .accessToken(let subject): context.outcome.event = .init(name: "token_revoked", fields: ["sub": subject])
            case .grant(let subject): context.outcome.event = .init(name: "grant_revoked", fields: subject.map { ["sub": $0] } ?? [:])
            case .nothing: break
            }
            return Response(status: .ok, headers: .noStore)
        }
    }
}
