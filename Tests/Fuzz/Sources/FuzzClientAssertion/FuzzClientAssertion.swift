import Foundation
import FuzzSupport
import WardenCore

/// A private_key_jwt client assertion (RFC 7523) as `/token` reads it from the form: the
/// credentials' parse (which client it names), then the verifier against that client's
/// registered keys. Only a client that exists and whose key signed the assertion may be
/// authenticated, and only once per `jti`.
let now = Date(timeIntervalSince1970: 1_800_000_000)
let jwks = #"{"keys":[{"crv":"P-256","x":"evbBuPFuJeXChMBmzjhkV_WGZtOPs4UjOXOthpyXunE","y":"6tzNsxnxn4tLH_p-p0O9dKzd4JGppj-SP5lyXfRhYxI","kid":"k1","kty":"EC"}]}"#
let client: Client = {
    var client = Client(
        id: "svc", name: "svc", secretDigest: nil, authMethod: .privateKeyJWT, grantTypes: [.clientCredentials], redirectURIs: [],
        scope: .empty, audiences: [], skipConsent: false, pkceOptional: false, createdAt: now)
    client.jwks = jwks
    return client
}()
let authenticator = ClientAuthenticator(
    clients: FuzzRepositories(clients: [client]), failuresPerClient: FailureRateLimiter(limit: 1_000_000),
    failuresPerAddress: FailureRateLimiter(limit: 1_000_000), clock: FuzzClock(date: now),
    assertions: ClientAssertionVerifier(
        issuer: "https://issuer.example", keys: ClientKeys(fetcher: nil, clock: FuzzClock(date: now)), usedJTIs: FuzzProofs(),
        clock: FuzzClock(date: now)))

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzClientAssertion(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let assertion = String(decoding: fuzzInput(data, size), as: UTF8.self)
    let form = FormBody(["client_assertion_type": ClientAssertionVerifier.assertionType, "client_assertion": assertion])
    guard let presented = try? PresentedClientCredentials.parse(authorization: nil, form: form) else { return 0 }
    guard case .privateKeyJWT(_, let parsed) = presented else { fatalError("invariant broken: an assertion parsed as \(presented.method)") }
    invariant(parsed.text == assertion, "the assertion was changed by parsing")
    let authenticated = blocking { (try? await authenticator.authenticate(presented)) != nil }
    guard authenticated else { return 0 }
    invariant(presented.clientID == "svc", "an assertion authenticated a client that does not exist")
    let jws = try? CompactJWS(assertion)
    invariant(jws?.string("iss") == "svc" && jws?.string("sub") == "svc", "an assertion of another issuer was accepted")
    invariant(!blocking { (try? await authenticator.authenticate(presented)) != nil }, "an assertion authenticated twice")
    return 0
}

runFuzzer(fuzzClientAssertion)
