import Foundation
import Testing
import WardenCore

/// RFC 7591 documents from strangers (`/register`, Client ID Metadata Documents): what
/// they may ask for, and which addresses the server may fetch a client's documents from.
@Suite("Client metadata from documents")
struct ClientMetadataTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let registration = ClientMetadataPolicy.registration(
        scopes: Scope(tokens: ["openid", "profile", "videos"]), idTokenAlgorithms: [.es256, .rs256], allowHTTPJWKSURI: false)
    static let documents = ClientMetadataPolicy.metadataDocument(
        scopes: Scope(tokens: ["openid", "profile"]), idTokenAlgorithms: [.rs256], allowHTTPJWKSURI: false)

    func document(_ json: String) throws -> ClientMetadataDocument { try ClientMetadataDocument(json: Array(json.utf8)) }

    func refusal(_ policy: ClientMetadataPolicy = registration, _ json: String) -> OAuthError.Code? {
        do { _ = try policy.makeClient(try document(json), now: Self.now) } catch let error as OAuthError { return error.code } catch {
            return nil
        }
        return nil
    }

    @Test("a registered client gets what it asked for within the rules, the default audience, and a secret when confidential")
    func accepted() throws {
        let (client, secret) = try Self.registration.makeClient(
            try document(#"{"redirect_uris":["https://app.example/cb"],"client_name":" App ","scope":"openid videos","contacts":["ops@app.example"],"x":1}"#),
            now: Self.now)
        #expect(client.name == "App" && client.authMethod == .clientSecretBasic && client.grantTypes == [.authorizationCode])
        #expect(client.scope.description == "openid videos" && client.audiences.isEmpty && secret != nil && !client.skipConsent)
        #expect(client.registeredMetadata == #"{"contacts":["ops@app.example"]}"#)
        let (public_, noSecret) = try Self.registration.makeClient(
            try document(#"{"redirect_uris":["com.example.app:/cb"],"token_endpoint_auth_method":"none"}"#), now: Self.now)
        #expect(public_.authMethod == ClientAuthMethod.none && noSecret == nil && public_.scope.tokens == ["openid", "profile", "videos"])
    }

    @Test(
        "registration refusals",
        arguments: [
            (#"{"redirect_uris":["https://app.example/cb#f"]}"#, "invalid_redirect_uri"),
            (#"{"redirect_uris":["http://app.example/cb"]}"#, "invalid_redirect_uri"),
            (#"{"redirect_uris":["https://user:pw@app.example/cb"]}"#, "invalid_redirect_uri"),
            (#"{"redirect_uris":["https://a.example/cb"],"backchannel_logout_uri":"http://127.0.0.1:9000/logout"}"#, "invalid_client_metadata"),
            (#"{"redirect_uris":["myapp:/cb"],"token_endpoint_auth_method":"none"}"#, "invalid_redirect_uri"),
            (#"{"redirect_uris":["com.example.app:/cb"]}"#, "invalid_redirect_uri"),
            (#"{"grant_types":["authorization_code"]}"#, "invalid_client_metadata"),
            (#"{"redirect_uris":["https://a.example/cb"],"scope":"admin"}"#, "invalid_client_metadata"),
            (#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}"#, "invalid_client_metadata"),
            (#"{"grant_types":["urn:ietf:params:oauth:grant-type:token-exchange"]}"#, "invalid_client_metadata"),
            (#"{"grant_types":["implicit"]}"#, "invalid_client_metadata"),
            (#"{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}"#, "invalid_client_metadata"),
            (#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt"}"#, "invalid_client_metadata"),
            (#"{"grant_types":["client_credentials"],"jwks_uri":"https://a.example/jwks"}"#, "invalid_client_metadata"),
            (#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_jwt"}"#, "invalid_client_metadata"),
            (#"{"redirect_uris":["https://a.example/cb"],"id_token_signed_response_alg":"EdDSA"}"#, "invalid_client_metadata"),
            (#"{"redirect_uris":"https://a.example/cb"}"#, "invalid_client_metadata"),
            (#"{"grant_types":["client_credentials"],"dpop_bound_access_tokens":1}"#, "invalid_client_metadata"),
            (#"{"grant_types":["client_credentials"],"logo_uri":"javascript:alert(1)"}"#, "invalid_client_metadata"),
            (#"["not an object"]"#, "invalid_client_metadata"),
        ])
    func refused(_ json: String, _ code: String) {
        #expect(refusal(Self.registration, json) == OAuthError.Code(rawValue: code))
    }

    @Test("a metadata document is the client at its URL: public or private_key_jwt only, never a secret, named by its host")
    func metadataDocument() throws {
        let url = "https://agent.example/oauth/client.json"
        func client(_ json: String) throws -> Client {
            try ClientIDMetadataDocuments.client(url: url, document: Array(json.utf8), policy: Self.documents, now: Self.now)
        }
        let made = try client(#"{"client_id":"\#(url)","client_name":"Bank of Trust","redirect_uris":["http://127.0.0.1:33418/cb"]}"#)
        #expect(made.id == url && made.name == "agent.example" && made.authMethod == ClientAuthMethod.none && made.fromMetadataDocument)
        #expect(made.origin == "metadata_document" && made.scope.tokens == ["openid", "profile"])
        for bad in [
            #"{"client_id":"https://agent.example/other.json","redirect_uris":["https://a.example/cb"]}"#,
            #"{"client_id":"\#(url)"}"#,
            #"{"client_id":"\#(url)","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}"#,
            #"{"client_id":"\#(url)","redirect_uris":["https://a.example/cb"],"client_secret":"s"}"#,
            #"{"client_id":"\#(url)","redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"]}"#,
            #"{"client_id":"\#(url)","redirect_uris":["https://a.example/cb"],"backchannel_logout_uri":"https://a.example/bcl"}"#,
            #"{"client_id":"\#(url)","redirect_uris":["https://a.example/cb"],"pad":"\#(String(repeating: "x", count: 5200))"}"#,
        ] {
            #expect(throws: OAuthError.self) { try client(bad) }
        }
    }

    @Test("which client ids name documents")
    func documentURLs() {
        for url in ["https://agent.example/client.json", "https://agent.example:8443/a/b?v=1"] {
            #expect(ClientIDMetadataDocuments.isDocumentURL(url, allowHTTP: false))
        }
        for url in [
            "https://agent.example", "https://agent.example/", "https://agent.example/a#f", "https://u:p@agent.example/a",
            "https://agent.example/a/../b", "https://agent.example/./b", "http://agent.example/a", "http://127.0.0.1:8000/a", "client-1",
        ] {
            #expect(!ClientIDMetadataDocuments.isDocumentURL(url, allowHTTP: false), "\(url)")
        }
        #expect(ClientIDMetadataDocuments.isDocumentURL("http://127.0.0.1:8000/a", allowHTTP: true))
        #expect(!ClientIDMetadataDocuments.isDocumentURL("http://agent.example/a", allowHTTP: true))
    }

    @Test("only public addresses may be fetched from")
    func addresses() {
        for address: [UInt8] in [[93, 184, 216, 34], [8, 8, 8, 8], [172, 32, 0, 1], [100, 128, 0, 1]] {
            #expect(NetworkAddress.isPublic(address), "\(address)")
        }
        for address: [UInt8] in [
            [127, 0, 0, 1], [10, 1, 2, 3], [172, 16, 0, 1], [172, 31, 255, 255], [192, 168, 1, 1], [169, 254, 169, 254], [0, 0, 0, 0],
            [100, 64, 0, 1], [224, 0, 0, 1], [255, 255, 255, 255], [198, 18, 0, 1],
        ] {
            #expect(!NetworkAddress.isPublic(address), "\(address)")
        }
        let v6 = { (prefix: [UInt8], suffix: [UInt8]) in prefix + [UInt8](repeating: 0, count: 16 - prefix.count - suffix.count) + suffix }
        #expect(NetworkAddress.isPublic(v6([0x26, 0x06, 0x28, 0x00], [1])))
        #expect(!NetworkAddress.isPublic(v6([], [1])))  // ::1
        #expect(!NetworkAddress.isPublic(v6([], [])))  // ::
        #expect(!NetworkAddress.isPublic(v6([0xFE, 0x80], [1])))
        #expect(!NetworkAddress.isPublic(v6([0xFD, 0x00], [1])))
        #expect(!NetworkAddress.isPublic(v6([], [0xFF, 0xFF, 127, 0, 0, 1])))  // ::ffff:127.0.0.1
        #expect(NetworkAddress.isPublic(v6([], [0xFF, 0xFF, 8, 8, 8, 8])))
        #expect(!NetworkAddress.isPublic(v6([0, 0x64, 0xFF, 0x9B], [10, 0, 0, 1])))
        #expect(!NetworkAddress.isPublic([1, 2, 3]))
    }
}
