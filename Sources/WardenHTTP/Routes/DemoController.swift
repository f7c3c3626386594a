import Foundation
import HTTPTypes
import Hummingbird
import WardenCore

/// What the demo's stand-in application knows: its public client, the redirect URI
/// Warden serves for it, and the PKCE verifier of the authorization URL the banner prints.
public struct DemoCallback: Sendable {
    public var clientID: String
    public var redirectURI: String
    public var verifier: String
    /// The token endpoint's URL, for the `curl` shown.
    public var tokenURL: String

    public init(clientID: String, redirectURI: String, verifier: String, tokenURL: String) {
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.verifier = verifier
        self.tokenURL = tokenURL
    }
}

/// `/demo/callback`, only under `serve --demo`: the demo client's redirect URI, served by
/// Warden itself so that a first sign-in ends on a page that shows the code (or the
/// error) and exchanges it, instead of on an address where nothing listens.
struct DemoController: Sendable {
    let demo: DemoCallback
    let tokenEndpoint: TokenEndpoint
    let pages: PageRenderer

    func addRoutes(to router: Router<WardenRequestContext>) {
        router.get("/demo/callback", use: arrived)
        router.post("/demo/callback", use: exchange)
    }

    /// Where the browser lands: the code and the ready command, or the error.
    @Sendable func arrived(_ request: Request, context: WardenRequestContext) async throws -> Response {
        let query = (try? FormBody(parsing: Array((request.uri.query ?? "").utf8))) ?? FormBody([:])
        if let code = query["code"] {
            let curl = """
                curl -s -d grant_type=authorization_code -d client_id=\(demo.clientID) -d code=\(code) \\
                  --data-urlencode redirect_uri=\(demo.redirectURI) -d code_verifier=\(demo.verifier) \(demo.tokenURL)
                """
            return pages.page("demo_callback", ["title": "Signed in", "heading": "Signed in: here is the code", "code": code, "curl": curl])
        }
        return pages.page(
            "demo_callback",
            [
                "title": "Not signed in", "heading": "The sign-in did not complete", "error": query["error"] ?? "no code",
                "error_description": query["error_description"] ?? "",
            ])
    }

    /// The exchange the application would make, shown decoded.
    @Sendable func exchange(_ request: Request, context: WardenRequestContext) async throws -> Response {
        var request = request
        let form = try await request.oauthForm()
        let tokenRequest = FormBody([
            "grant_type": "authorization_code", "client_id": demo.clientID, "code": form["code"] ?? "",
            "redirect_uri": demo.redirectURI, "code_verifier": demo.verifier,
        ])
        do {
            let (_, response) = try await tokenEndpoint.respond(to: tokenRequest, authorization: nil, address: context.remoteAddress)
            let json = try JSONSerialization.jsonObject(with: Data(response.json))
            let object = json as? [String: Any]
            let claims = object?["access_token"].flatMap { $0 as? String }.flatMap(Self.claims(ofJWT:)) ?? "?"
            var tokens = ["response": Self.pretty(json), "claims": claims]
            tokens["id_token_claims"] = object?["id_token"].flatMap { $0 as? String }.flatMap(Self.claims(ofJWT:))
            return pages.page("demo_callback", ["title": "Tokens", "heading": "Tokens issued", "tokens": tokens])
        } catch let error as OAuthError {
            return pages.page(
                "demo_callback",
                [
                    "title": "Exchange refused", "heading": "The token endpoint refused the code", "error": error.code.rawValue,
                    "error_description": error.publicDescription ?? "",
                ], status: .badRequest)
        }
    }

    static func claims(ofJWT token: String) -> String? {
        let parts = token.split(separator: ".")
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]), let object = try? JSONSerialization.jsonObject(with: payload)
        else { return nil }
        return pretty(object)
    }

    static func pretty(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}
