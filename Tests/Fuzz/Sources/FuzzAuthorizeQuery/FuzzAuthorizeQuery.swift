import Foundation
import FuzzSupport
import WardenCore

enum Setup {
    static let registered = ["https://app.example/callback", "http://127.0.0.1/callback", "com.example.app:/oauth"]
    static let client = Client(
        id: "spa", name: "spa", secretDigest: nil, authMethod: .none, grantTypes: [.authorizationCode, .refreshToken],
        redirectURIs: registered, scope: Scope(tokens: ["openid", "profile", "offline_access"]), audiences: ["https://api.example"],
        skipConsent: false, pkceOptional: false, createdAt: Date(timeIntervalSince1970: 0))
    static let repositories = FuzzRepositories(clients: [client])
    static let endpoint = AuthorizationEndpoint(
        configuration: .init(issuer: "https://issuer.example", defaultAudience: "https://api.example", allowPlainPKCE: false),
        clients: repositories, grants: repositories, consents: repositories, clock: SystemClock())
}

/// The `/authorize` query, parsed and validated as the route does: a request is either
/// refused (page or redirect) or goes to a registered redirect URI with S256 PKCE.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzAuthorizeQuery(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let query = try? FormBody(parsing: fuzzInput(data, size)) else { return 0 }
    let outcome: Result<AuthorizationRequest, any Error> = blocking {
        do { return .success(try await Setup.endpoint.validate(query)) } catch { return .failure(error) }
    }
    switch outcome {
    case .success(let request):
        invariant(RedirectURIMatcher.match(request.redirectURI, registered: Setup.registered) != nil, "unregistered redirect \(request.redirectURI)")
        invariant(request.codeChallengeMethod == .s256 && request.codeChallenge.map { PKCE.isValidChallenge($0, method: .s256) } == true,
            "a request without a valid S256 challenge was accepted")
        invariant(request.scope.tokens.allSatisfy { Setup.client.scope.tokens.contains($0) }, "a scope outside the registration was granted")
        invariant(request.state == query["state"], "state is not echoed exactly")
    case .failure(let error):
        invariant(error is AuthorizationFailure, "an unexpected error type: \(error)")
        if case .redirect(let response) = error as? AuthorizationFailure {
            let location = response.location
            invariant(Setup.registered.contains { location.hasPrefix($0) } || location.hasPrefix("http://127.0.0.1:"),
                "an error redirect to an unregistered place: \(location)")
        }
    }
    return 0
}

_ = Setup.endpoint  // set up before fuzzing, so its allocations are not counted against an input
runFuzzer(fuzzAuthorizeQuery)
