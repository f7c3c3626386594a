import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import WardenCore

@Suite("POST /token")
struct TokenRouteTests {
    @Test("client_secret_basic gets a Bearer token that must not be cached")
    func basic() async throws {
        try await TestWarden.run { warden, client in
            let (id, secret) = try await warden.register()
            let response = try await client.post("/token", form: "grant_type=client_credentials&scope=invoices%3Aread", basic: (id, secret))
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "no-store")
            #expect(response.headers[HTTPField.Name("Pragma")!] == "no-cache")
            #expect(response.headers[.contentType] == "application/json")
            #expect(response.json["token_type"] as? String == "Bearer")
            #expect(response.json["expires_in"] as? Int == 3600)
            #expect(response.json["scope"] as? String == "invoices:read")
            let token = try #require(response.json["access_token"] as? String)
            #expect(token.split(separator: ".").count == 3)
        }
    }

    @Test("client_secret_post works for a client registered for it")
    func post() async throws {
        try await TestWarden.run { warden, client in
            let (id, secret) = try await warden.register(method: .clientSecretPost)
            let response = try await client.post("/token", form: "grant_type=client_credentials&client_id=\(id)&client_secret=\(secret)")
            #expect(response.status == .ok)
            #expect(response.json["scope"] as? String == "invoices:read invoices:write")
        }
    }

    @Test("failed client authentication is 401 invalid_client with a Basic challenge")
    func invalidClient() async throws {
        try await TestWarden.run { warden, client in
            let (id, secret) = try await warden.register()
            for credentials in [(id, "wrong"), ("unknown", secret)] {
                let response = try await client.post("/token", form: "grant_type=client_credentials", basic: credentials)
                #expect(response.status == .unauthorized)
                #expect(response.oauthError == "invalid_client")
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
                #expect(response.headers[.cacheControl] == "no-store")
            }
            // The method must be the registered one.
            let viaPost = try await client.post("/token", form: "grant_type=client_credentials&client_id=\(id)&client_secret=\(secret)")
            #expect(viaPost.status == .unauthorized)
            let none = try await client.post("/token", form: "grant_type=client_credentials")
            #expect(none.status == .unauthorized)
        }
    }

    @Test("each malformed request gets 400 and its RFC error", arguments: [
        ("scope=invoices%3Aread", "application/x-www-form-urlencoded", "invalid_request"),
        ("grant_type=client_credentials", "application/json", "invalid_request"),
        ("grant_type=client_credentials&grant_type=client_credentials", "application/x-www-form-urlencoded", "invalid_request"),
        ("grant_type=client_credentials&scope=%zz", "application/x-www-form-urlencoded", "invalid_request"),
        ("grant_type=client_credentials&scope=%C3%28", "application/x-www-form-urlencoded", "invalid_request"),
        ("grant_type=password", "application/x-www-form-urlencoded", "unsupported_grant_type"),
        ("grant_type=client_credentials&scope=admin", "application/x-www-form-urlencoded", "invalid_scope"),
        ("grant_type=client_credentials&resource=https%3A%2F%2Fevil.example.com", "application/x-www-form-urlencoded", "invalid_target"),
        ("grant_type=client_credentials&resource=relative", "application/x-www-form-urlencoded", "invalid_target"),
        ("grant_type=client_credentials", "application/x-www-form-urlencoded; charset=latin1", "invalid_request"),
    ])
    func badRequests(form: String, contentType: String, error: String) async throws {
        try await TestWarden.run { warden, client in
            let (id, secret) = try await warden.register()
            let response = try await client.post("/token", form: form, basic: (id, secret), contentType: contentType)
            #expect(response.status == .badRequest)
            #expect(response.oauthError == error)
            #expect(response.headers[.cacheControl] == "no-store")
        }
    }

    @Test("Basic together with client_secret in the body is invalid_request")
    func twoMethods() async throws {
        try await TestWarden.run { warden, client in
            let (id, secret) = try await warden.register()
            let response = try await client.post("/token", form: "grant_type=client_credentials&client_secret=\(secret)", basic: (id, secret))
            #expect(response.status == .badRequest)
            #expect(response.oauthError == "invalid_request")
        }
    }

    @Test("a missing Content-Type and an oversized body are invalid_request")
    func contentTypeAndSize() async throws {
        try await TestWarden.run { warden, client in
            let (id, secret) = try await warden.register()
            let noType = try await client.post("/token", form: "grant_type=client_credentials", basic: (id, secret), contentType: nil)
            #expect(noType.status == .badRequest)
            #expect(noType.oauthError == "invalid_request")
            let huge = "grant_type=client_credentials&scope=" + String(repeating: "a", count: 70_000)
            let tooBig = try await client.post("/token", form: huge, basic: (id, secret))
            #expect(tooBig.status == .badRequest)
            #expect(tooBig.oauthError == "invalid_request")
        }
    }

    @Test("a client without the grant is unauthorized_client")
    func unauthorizedClient() async throws {
        try await TestWarden.run { warden, client in
            let (id, secret) = try await warden.register(grantTypes: [.authorizationCode])
            let response = try await client.post("/token", form: "grant_type=client_credentials", basic: (id, secret))
            #expect(response.status == .badRequest)
            #expect(response.oauthError == "unauthorized_client")
        }
    }

    @Test("resource selects the audience; several give a list")
    func resourceAudience() async throws {
        try await TestWarden.run { warden, client in
            let (id, secret) = try await warden.register(audiences: ["https://a.example.com", "https://b.example.com"])
            let response = try await client.post(
                "/token", form: "grant_type=client_credentials&resource=https%3A%2F%2Fb.example.com&resource=https%3A%2F%2Fa.example.com",
                basic: (id, secret))
            let token = try #require(response.json["access_token"] as? String)
            let introspection = try await client.post("/introspect", form: "token=\(token)", basic: (id, secret))
            #expect(introspection.json["aud"] as? [String] == ["https://b.example.com", "https://a.example.com"])
        }
    }

    @Test("other methods than POST are 405 with Allow: POST and an OAuth error", arguments: ["/token", "/introspect", "/revoke"])
    func wrongMethod(path: String) async throws {
        try await TestWarden.run { _, client in
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                let response = try await client.execute(uri: path, method: method)
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
                #expect(response.oauthError == "invalid_request")
            }
        }
    }
}

@Suite("Client authentication limits over HTTP")
struct ClientAuthenticationLimitRouteTests {
    @Test("after too many failures: 429, Retry-After and an OAuth JSON error; the right secret and other clients unaffected")
    func rateLimited() async throws {
        try await TestWarden.run(configure: { $0.clientAuthenticationFailuresPerClient = 3 }) { warden, client in
            let (id, secret) = try await warden.register()
            let other = try await warden.register()
            for _ in 0..<3 {
                #expect(try await client.post("/token", form: "grant_type=client_credentials", basic: (id, "wrong")).status == .unauthorized)
            }
            let limited = try await client.post("/introspect", form: "token=x", basic: (id, "wrong"))
            #expect(limited.status == .tooManyRequests)
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)
            #expect(limited.oauthError == "slow_down")
            #expect(limited.headers[.cacheControl] == "no-store")
            #expect(try await client.post("/token", form: "grant_type=client_credentials", basic: other).status == .ok)
            #expect(try await client.post("/token", form: "grant_type=client_credentials", basic: (id, secret)).status == .ok)
        }
    }
}
