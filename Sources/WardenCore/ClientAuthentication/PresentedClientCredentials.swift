import Foundation

/// How a client identified itself on a request, before anything is checked (RFC 6749 §2.3).
public enum PresentedClientCredentials: Sendable, Equatable {
    /// `client_secret_basic`: the Authorization header.
    case basic(clientID: String, secret: ClientSecret)
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    case post(clientID: String, secret: ClientSecret)
    /// A public client: `client_id` alone.
    case none(clientID: String)
    /// `private_key_jwt` (RFC 7523 §2.2): a signed assertion; the client id is the body's
    /// `client_id`, else the assertion's (unverified) `iss`, which must then match it.
    case privateKeyJWT(clientID: String, assertion: ClientAssertion)

    /// The client id presented.
    public var clientID: String {
        switch self {
        case .basic(let id, _), .post(let id, _), .none(let id), .privateKeyJWT(let id, _): id
        }
    }

    /// The method the client used.
    public var method: ClientAuthMethod {
        switch self {
        case .basic: .clientSecretBasic
        case .post: .clientSecretPost
        case .none: .none
        case .privateKeyJWT: .privateKeyJWT
        }
    }

    /// The longest client id accepted (Warden's own are 32 characters): a longer one is
    /// refused before anything else, so that it never becomes a rate limiter's key.
    public static let maximumClientIDLength = 255

    /// Reads the credentials from the Authorization header value and the form.
    ///
    /// RFC 6749 §2.3.1: Basic credentials are form-url-decoded after base64, and
    /// a client must not use more than one authentication method in a request.
    public static func parse(authorization: String?, form: FormBody) throws(OAuthError) -> PresentedClientCredentials {
        let credentials = try parseUnbounded(authorization: authorization, form: form)
        guard credentials.clientID.utf8.count <= maximumClientIDLength else {
            throw .invalidRequest("client_id is longer than \(maximumClientIDLength) bytes")
        }
        return credentials
    }

    private static func parseUnbounded(authorization: String?, form: FormBody) throws(OAuthError) -> PresentedClientCredentials {
        if form["client_assertion"] != nil || form["client_assertion_type"] != nil {
            return try parseAssertion(authorization: authorization, form: form)
        }
        if let authorization {
            let (id, secret) = try parseBasic(authorization)
            if form["client_secret"] != nil {
                throw .invalidRequest("Use only one client authentication method")
            }
            if let bodyID = form["client_id"], bodyID != id {
                throw .invalidRequest("client_id in the body differs from the Authorization header")
            }
            return .basic(clientID: id, secret: ClientSecret(secret))
        }
        guard let id = form["client_id"] else {
            if form["client_secret"] != nil { throw .invalidRequest("client_secret without client_id") }
            throw .invalidClient(cause: "no client authentication")
        }
        if let secret = form["client_secret"] {
            return .post(clientID: id, secret: ClientSecret(secret))
        }
        return .none(clientID: id)
    }

    static func parseAssertion(authorization: String?, form: FormBody) throws(OAuthError) -> PresentedClientCredentials {
        guard authorization == nil, form["client_secret"] == nil else {
            throw .invalidRequest("Use only one client authentication method")
        }
        guard let assertion = form["client_assertion"], let type = form["client_assertion_type"] else {
            throw .invalidRequest("client_assertion and client_assertion_type go together")
        }
        guard type == ClientAssertionVerifier.assertionType else {
            throw .invalidClient(cause: "unsupported client_assertion_type")
        }
        guard let parsed = try? ClientAssertion(assertion) else { throw .invalidClient(cause: "client_assertion is not a readable JWT") }
        guard let id = form["client_id"] ?? parsed.issuer, !id.isEmpty else { throw .invalidClient(cause: "client_assertion without iss") }
        return .privateKeyJWT(clientID: id, assertion: parsed)
    }

    static func parseBasic(_ header: String) throws(OAuthError) -> (String, String) {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic" else {
            throw .invalidClient(cause: "unsupported Authorization scheme")
        }
        let raw = Array(parts[1].utf8)
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let start = raw.firstIndex { !isBlank($0) } ?? raw.endIndex
        let end = raw.lastIndex { !isBlank($0) }.map { $0 + 1 } ?? start
        guard let data = Data(base64Encoded: Data(raw[start..<end])), let colon = data.firstIndex(of: UInt8(ascii: ":")) else {
            throw .invalidClient(cause: "malformed Basic credentials")
        }
        let decoded = Array(data)
        let id: String
        let secret: String
        do {
            id = try FormURLDecoding.decode(decoded[..<colon])
            secret = try FormURLDecoding.decode(decoded[(colon + 1)...])
        } catch {
            throw .invalidClient(cause: "Basic credentials are not form-url-encoded UTF-8")
        }
        guard !id.isEmpty else { throw .invalidClient(cause: "empty client id in Basic credentials") }
        return (id, secret)
    }
}
