import HTTPTypes
import Hummingbird
import WardenCore

extension WardenRoutes {
    /// RFC 7591 `POST /register` and RFC 7592 `GET`, `PUT`, `DELETE /register/<id>`;
    /// absent (404) when `registration` is off.
    func addRegistrationRoutes(to router: Router<WardenRequestContext>) {
        guard let registration, registration.configuration.mode != .off else { return }
        let issuer = registration.configuration.issuer
        router.post("/register") { request, context in
            var request = request
            let information = try await registration.register(
                try await request.jsonBody(), authorization: request.authorization, address: context.remoteAddress ?? "unknown")
            context.outcome.clientID = information.client.id
            context.outcome.event = .init(name: "client_registered", fields: ["client_id": information.client.id])
            return JSONBody.response(bytes: information.json(issuer: issuer), status: .created, headers: .noStore)
        }
        router.get("/register/:client_id") { request, context in
            let information = try await registration.read(
                clientID: try context.parameters.require("client_id"), authorization: request.authorization,
                address: context.remoteAddress ?? "unknown")
            context.outcome.clientID = information.client.id
            return JSONBody.response(bytes: information.json(issuer: issuer), headers: .noStore)
        }
        router.put("/register/:client_id") { request, context in
            var request = request
            let information = try await registration.update(
                clientID: try context.parameters.require("client_id"), try await request.jsonBody(), authorization: request.authorization,
                address: context.remoteAddress ?? "unknown")
            context.outcome.clientID = information.client.id
            context.outcome.event = .init(name: "client_updated", fields: ["client_id": information.client.id])
            return JSONBody.response(bytes: information.json(issuer: issuer), headers: .noStore)
        }
        router.delete("/register/:client_id") { request, context in
            let clientID = try context.parameters.require("client_id")
            try await registration.delete(clientID: clientID, authorization: request.authorization, address: context.remoteAddress ?? "unknown")
            context.outcome.clientID = clientID
            context.outcome.event = .init(name: "client_deleted", fields: ["client_id": clientID])
            return Response(status: .noContent, headers: .noStore)
        }
    }
}

extension Request {
    /// The body of an `application/json` request, at most 64 KiB, or `invalid_request`.
    mutating func jsonBody() async throws -> [UInt8] {
        let type = headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/json" else { throw OAuthError.invalidRequest("Content-Type must be application/json") }
        if let length = headers[.contentLength].flatMap(Int.init), length > Self.maximumFormBytes {
            throw OAuthError.invalidRequest("The request body exceeds 64 KiB")
        }
        do { return Array(try await collectBody(upTo: Self.maximumFormBytes).readableBytesView) } catch {
            throw OAuthError.invalidRequest("The request body exceeds 64 KiB or could not be read")
        }
    }
}
