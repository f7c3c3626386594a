import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WardenCore

@Suite("POST /introspect and /revoke")
struct IntrospectionRouteTests {
    func token(_ client: some TestClientProtocol, _ credentials: (String, String)) async throws -> String {
        try #require(try await client.post("/token", form: "grant_type=client_credentials", basic: credentials).json["access_token"] as? String)
    }

    @Test("a live token is active with every RFC 7662 member")
    func active() async throws {
        try await TestWarden.run { warden, client in
            let credentials = try await warden.register()
            let token = try await token(client, credentials)
            let response = try await client.post("/introspect", form: "token=\(token)", basic: credentials)
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "no-store")
            let json = response.json
            #expect(json["active"] as? Bool == true)
            #expect(json["client_id"] as? String == credentials.0)
            #expect(json["sub"] as? String == credentials.0)
            #expect(json["aud"] as? String == "https://api.example.com")
            #expect(json["iss"] as? String == TestWarden.issuer)
            #expect(json["scope"] as? String == "invoices:read invoices:write")
            #expect(json["token_type"] as? String == "Bearer")
            #expect(json["jti"] is String)
            let exp = try #require(json["exp"] as? Int)
            let iat = try #require(json["iat"] as? Int)
            #expect(exp - iat == 3600)
        }
    }

    @Test("garbage and tampered tokens are inactive, with nothing else said")
    func inactive() async throws {
        try await TestWarden.run { warden, client in
            let credentials = try await warden.register()
            let token = try await token(client, credentials)
            var tampered = Array(token)
            tampered[tampered.count - 5] = tampered[tampered.count - 5] == "A" ? "B" : "A"
            for candidate in ["garbage", "a.b.c", String(tampered)] {
                let response = try await client.post("/introspect", form: "token=\(candidate)", basic: credentials)
                #expect(response.status == .ok)
                #expect(response.json.count == 1)
                #expect(response.json["active"] as? Bool == false)
            }
        }
    }

    @Test("revocation makes a token inactive at once; another client's token is refused")
    func revocation() async throws {
        try await TestWarden.run { warden, client in
            let owner = try await warden.register()
            let other = try await warden.register()
            let token = try await token(client, owner)
            let refused = try await client.post("/revoke", form: "token=\(token)", basic: other)
            #expect(refused.status == .badRequest)
            #expect(refused.oauthError == "unauthorized_client")
            #expect(try await client.post("/introspect", form: "token=\(token)", basic: other).json["active"] as? Bool == true)

            let revoked = try await client.post("/revoke", form: "token=\(token)&token_type_hint=access_token", basic: owner)
            #expect(revoked.status == .ok)
            #expect(try await client.post("/introspect", form: "token=\(token)", basic: owner).json["active"] as? Bool == false)
            #expect(try await client.post("/revoke", form: "token=unknown", basic: owner).status == .ok)
        }
    }

    @Test("both endpoints require client authentication and a token")
    func authenticationRequired() async throws {
        try await TestWarden.run { warden, client in
            let credentials = try await warden.register()
            for path in ["/introspect", "/revoke"] {
                let anonymous = try await client.post(path, form: "token=x")
                #expect(anonymous.status == .unauthorized)
                #expect(anonymous.oauthError == "invalid_client")
                let noToken = try await client.post(path, form: "", basic: credentials)
                #expect(noToken.status == .badRequest)
                #expect(noToken.oauthError == "invalid_request")
            }
        }
    }

    @Test("a public client cannot introspect")
    func publicClient() async throws {
        try await TestWarden.run { warden, client in
            let (id, _) = try await warden.register(grantTypes: [.authorizationCode], method: ClientAuthMethod.none)
            let response = try await client.post("/introspect", form: "client_id=\(id)&token=x")
            #expect(response.status == .unauthorized)
        }
    }
}
