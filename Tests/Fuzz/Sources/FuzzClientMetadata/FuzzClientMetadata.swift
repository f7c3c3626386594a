import Foundation
import FuzzSupport
import WardenCore

/// A client metadata document as strangers send it: to `/register` (RFC 7591), or from a
/// Client ID Metadata Document's URL. Whatever is accepted must keep the rules: redirect
/// URIs a client may register, scopes within the offered set, the default audience,
/// never a secret for a public client; a document's client is its URL, public or keyed.
let now = Date(timeIntervalSince1970: 1_800_000_000)
let scopes = Scope(tokens: ["openid", "profile", "notes:read"])
let registration = ClientMetadataPolicy.registration(scopes: scopes, idTokenAlgorithms: [.rs256, .es256], allowHTTPJWKSURI: false)
let documents = ClientMetadataPolicy.metadataDocument(scopes: scopes, idTokenAlgorithms: [.rs256], allowHTTPJWKSURI: false)
let url = "https://agent.example/client.json"

func checkRules(_ client: Client, secret: ClientSecret?) {
    invariant(client.redirectURIs.allSatisfy { RedirectURIPolicy.problem(with: $0) == nil }, "a redirect URI broke the policy")
    invariant(client.scope.tokens.allSatisfy(scopes.tokens.contains), "a scope outside the offered set was accepted")
    invariant(client.audiences.isEmpty && client.exchangeAudiences.isEmpty, "a document chose an audience")
    invariant((secret != nil) == client.authMethod.usesSecret, "a secret for a client without a secret method, or none for one")
    invariant(!client.skipConsent && !client.pkceOptional, "a document turned off consent or PKCE")
    invariant(!client.grantTypes.contains(.tokenExchange), "a document registered token exchange")
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzClientMetadata(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    guard let document = try? ClientMetadataDocument(json: bytes) else { return 0 }
    if let (client, secret) = try? registration.makeClient(document, now: now) { checkRules(client, secret: secret) }
    if let client = try? ClientIDMetadataDocuments.client(url: url, document: bytes, policy: documents, now: now) {
        checkRules(client, secret: nil)
        invariant(client.id == url && client.fromMetadataDocument && document.clientID == url, "a document's client is not its URL")
        invariant([.none, .privateKeyJWT].contains(client.authMethod), "a document's client authenticates with a secret")
        invariant(client.name == "agent.example", "a document chose the name the consent page shows")
    }
    return 0
}

runFuzzer(fuzzClientMetadata)
