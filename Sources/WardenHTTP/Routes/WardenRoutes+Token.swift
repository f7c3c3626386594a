import HTTPTypes
import Hummingbird
import WardenCore

extension WardenRoutes {
    /// `/token` (RFC 6749 §3.2), `/introspect` (RFC 7662), `/revoke` (RFC 7009), `/par` (RFC 9126),
    /// `/device_authorization` (RFC 8628).
    func addTokenRoutes(to router: Router<WardenRequestContext>) {
        router.post("/token") { request, context in
            var request = request
            let form = try await request.oauthForm()
            let proofs = request.headers[values: .dpop]
            let (client, response) = try await tokenEndpoint.respond(
                to: form, authorization: request.authorization, address: context.remoteAddress, dpopProofs: proofs)
            context.outcome.clientID = client.id
            context.outcome.issued = .init(grantType: form["grant_type"] ?? "", tokenTypes: response.issuedTokenTypes)
            return JSONBody.response(bytes: response.json, headers: noStoreHeaders(answering: proofs))
        }
        router.post("/par") { request, context in
            var request = request
            let form = try await request.oauthForm()
            let proofs = request.headers[values: .dpop]
            let (client, requestURI, expiresIn) = try await pushedAuthorization.push(
                form: form, authorization: request.authorization, address: context.remoteAddress, dpopProofs: proofs)
            context.outcome.clientID = client.id
            var writer = JSONObjectWriter(capacity: 128)
            writer.add("request_uri", requestURI)
            writer.add("expires_in", expiresIn)
            return JSONBody.response(bytes: writer.finish(), status: .created, headers: noStoreHeaders(answering: proofs))
        }
        router.post("/device_authorization") { request, context in
            var request = request
            let (client, response) = try await deviceAuthorization.authorize(
                form: try await request.oauthForm(), authorization: request.authorization, address: context.remoteAddress)
            context.outcome.clientID = client.id
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

    /// `no-store`, and a fresh `DPoP-Nonce` when the request carried a proof and nonces
    /// are required (RFC 9449 §8).
    func noStoreHeaders(answering proofs: [String]) -> HTTPFields {
        var headers = HTTPFields.noStore
        if !proofs.isEmpty, let nonce = tokenEndpoint.dpopNonce() { headers[.dpopNonce] = nonce }
        return headers
    }
}
