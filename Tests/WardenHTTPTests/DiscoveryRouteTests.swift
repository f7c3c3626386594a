import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WardenTokens

@Suite("Discovery, JWKS and health")
struct DiscoveryRouteTests {
    @Test("metadata names every endpoint under the issuer and lists registered scopes")
    func metadata() async throws {
        try await TestWarden.run(configure: { $0.scopes = ["extra"] }) { warden, client in
            _ = try await warden.register(scope: "invoices:read")
            let response = try await client.execute(uri: "/.well-known/oauth-authorization-server", method: .get)
            #expect(response.status == .ok)
            let json = response.json
            #expect(json["issuer"] as? String == TestWarden.issuer)
            #expect(json["token_endpoint"] as? String == "\(TestWarden.issuer)/token")
            #expect(json["introspection_endpoint"] as? String == "\(TestWarden.issuer)/introspect")
            #expect(json["revocation_endpoint"] as? String == "\(TestWarden.issuer)/revoke")
            #expect(json["jwks_uri"] as? String == "\(TestWarden.issuer)/.well-known/jwks.json")
            #expect(json["authorization_endpoint"] as? String == "\(TestWarden.issuer)/authorize")
            #expect(
                json["grant_types_supported"] as? [String] == [
                    "authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ])
            #expect(json["response_types_supported"] as? [String] == ["code"])
            #expect(json["code_challenge_methods_supported"] as? [String] == ["S256"])
            #expect(json["scopes_supported"] as? [String] == ["email", "extra", "invoices:read", "offline_access", "openid", "profile"])
            #expect(json["authorization_response_iss_parameter_supported"] as? Bool == true)
            let withKeys = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
            #expect(json["token_endpoint_auth_methods_supported"] as? [String] == withKeys + ["none"])
            #expect(json["revocation_endpoint_auth_methods_supported"] as? [String] == withKeys + ["none"])
            #expect(json["introspection_endpoint_auth_methods_supported"] as? [String] == withKeys)
            // PROOF-OF-POSSESSION.md: the algorithms of assertions and proofs; never none or HMAC.
            for member in ["token_endpoint", "introspection_endpoint", "revocation_endpoint"] {
                #expect(json["\(member)_auth_signing_alg_values_supported"] as? [String] == ["ES256", "RS256", "PS256", "EdDSA"])
            }
            #expect(json["dpop_signing_alg_values_supported"] as? [String] == ["ES256", "RS256", "PS256", "EdDSA"])
            #expect(json["pushed_authorization_request_endpoint"] as? String == "\(TestWarden.issuer)/par")
            #expect(json["require_pushed_authorization_requests"] as? Bool == false)
            #expect(json["device_authorization_endpoint"] as? String == "\(TestWarden.issuer)/device_authorization")
            // Off by default: neither registration nor metadata documents are announced.
            #expect(json["registration_endpoint"] == nil && json["client_id_metadata_document_supported"] == nil)
        }
    }

    @Test("registration and client metadata documents are announced when they are on")
    func optionalMetadata() async throws {
        try await TestWarden.run(configure: {
            $0.registration = .token
            $0.clientIDMetadataDocuments = true
        }) { _, client in
            let json = try await client.execute(uri: "/.well-known/openid-configuration", method: .get).json
            #expect(json["registration_endpoint"] as? String == "\(TestWarden.issuer)/register")
            #expect(json["client_id_metadata_document_supported"] as? Bool == true)
        }
    }

    @Test("the JWKS has each signing key's public part only (access tokens' ES256, ID tokens' RS256), cacheable for half the lead time")
    func jwks() async throws {
        try await TestWarden.run(configure: { $0.keyRotationLeadTime = 600 }) { _, client in
            let response = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "public, max-age=300")
            let set = try JSONDecoder().decode(JWKSet.self, from: Data(buffer: response.body))
            #expect(set.keys.map(\.alg) == ["ES256", "RS256"])
            #expect(set.keys[0].crv == "P-256" && set.keys.allSatisfy { $0.use == "sig" })
            #expect(!String(buffer: response.body).contains("\"d\""))
        }
    }

    @Test("the configured algorithm signs", arguments: ["RS256", "EdDSA"])
    func algorithm(name: String) async throws {
        try await TestWarden.run(configure: { $0.signingAlgorithm = .init(rawValue: name)! }) { warden, client in
            let set = try JSONDecoder().decode(JWKSet.self, from: Data(buffer: try await client.execute(uri: "/.well-known/jwks.json", method: .get).body))
            #expect(Set(set.keys.map(\.alg)) == [name, "RS256"])
            let credentials = try await warden.register()
            let token = try #require(try await client.post("/token", form: "grant_type=client_credentials", basic: credentials).json["access_token"] as? String)
            #expect(try await client.post("/introspect", form: "token=\(token)", basic: credentials).json["active"] as? Bool == true)
        }
    }

    @Test("health answers 200 while the database answers")
    func health() async throws {
        try await TestWarden.run { _, client in
            let response = try await client.execute(uri: "/healthz", method: .get)
            #expect(response.status == .ok)
            #expect(response.json["status"] as? String == "ok")
        }
    }

    @Test("unknown paths are 404")
    func notFound() async throws {
        try await TestWarden.run { _, client in
            let response = try await client.execute(uri: "/nope", method: .get)
            #expect(response.status == .notFound)
        }
    }
}
