import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import WardenCore

/// The OpenID Connect routes as HTTP: discovery at both well-known paths, CORS, and
/// UserInfo's RFC 6750 answers.
@Suite("OpenID Connect routes")
struct OpenIDRouteTests {
    @Test("discovery: the same document at both well-known paths, with OpenID Connect's fields, readable from any origin")
    func discovery() async throws {
        try await TestWarden.run { _, client in
            let oauth = try await client.execute(uri: "/.well-known/oauth-authorization-server", method: .get)
            let openID = try await client.execute(uri: "/.well-known/openid-configuration", method: .get)
            #expect(openID.status == .ok && String(buffer: openID.body) == String(buffer: oauth.body))
            #expect(openID.headers[.accessControlAllowOrigin] == "*")
            let json = openID.json
            #expect(json["userinfo_endpoint"] as? String == "\(TestWarden.issuer)/userinfo")
            #expect(json["end_session_endpoint"] as? String == "\(TestWarden.issuer)/logout")
            #expect(json["subject_types_supported"] as? [String] == ["public"])
            #expect((json["id_token_signing_alg_values_supported"] as? [String])?.contains("RS256") == true)
            #expect(json["response_modes_supported"] as? [String] == ["query", "form_post"])
            #expect(json["claims_parameter_supported"] as? Bool == true && json["request_parameter_supported"] as? Bool == false)
            #expect(json["backchannel_logout_supported"] as? Bool == true && json["backchannel_logout_session_supported"] as? Bool == true)
            let jwks = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
            #expect(jwks.headers[.accessControlAllowOrigin] == "*")
        }
    }

    @Test("UserInfo without a token: 401 and a bare Bearer challenge (RFC 6750 §3.1)")
    func noToken() async throws {
        try await TestWarden.run { _, client in
            for method in [HTTPRequest.Method.get, .post] {
                let response = try await client.execute(uri: "/userinfo", method: method)
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="warden""#)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
            }
        }
    }

    @Test("UserInfo: two tokens or another scheme are invalid_request (400); an unknown token invalid_token (401)")
    func badRequests() async throws {
        try await TestWarden.run { _, client in
            var twice = HTTPFields()
            twice[.authorization] = "Bearer abc"
            twice[.contentType] = "application/x-www-form-urlencoded"
            let both = try await client.execute(uri: "/userinfo", method: .post, headers: twice, body: ByteBuffer(string: "access_token=abc"))
            #expect(both.status == .badRequest && both.oauthError == "invalid_request")
            #expect(both.headers[.wwwAuthenticate]?.hasPrefix(#"Bearer realm="warden", error="invalid_request""#) == true)
            var basic = HTTPFields()
            basic[.authorization] = "Basic YTpi"
            #expect(try await client.execute(uri: "/userinfo", method: .get, headers: basic).status == .badRequest)
            var unknown = HTTPFields()
            unknown[.authorization] = "Bearer not-a-token"
            let invalid = try await client.execute(uri: "/userinfo", method: .get, headers: unknown)
            #expect(invalid.status == .unauthorized && invalid.oauthError == "invalid_token")
            #expect(invalid.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
            // RFC 6750 §2.1: one or more spaces after the scheme; a second token is not one token.
            var spaced = HTTPFields()
            spaced[.authorization] = "Bearer   not-a-token"
            #expect(try await client.execute(uri: "/userinfo", method: .get, headers: spaced).oauthError == "invalid_token")
            var two = HTTPFields()
            two[.authorization] = "Bearer a b"
            #expect(try await client.execute(uri: "/userinfo", method: .get, headers: two).oauthError == "invalid_request")
        }
    }

    @Test("the preflight of a cross-origin UserInfo call allows Authorization")
    func preflight() async throws {
        try await TestWarden.run { _, client in
            let response = try await client.execute(uri: "/userinfo", method: .options)
            #expect(response.status == .noContent)
            #expect(response.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
        }
    }
}
