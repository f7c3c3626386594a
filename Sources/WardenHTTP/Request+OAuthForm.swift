import HTTPTypes
import Hummingbird
import WardenCore

extension Request {
    /// The largest form body accepted (SECURITY.md: bodies are capped).
    static let maximumFormBytes = 64 * 1024

    /// The body as a strict `application/x-www-form-urlencoded` form, or `invalid_request`.
    mutating func oauthForm() async throws -> FormBody {
        try FormBody(parsing: try await formBytes())
    }

    /// The form body's text, checked as `oauthForm()` checks it (a POSTed authorization
    /// request travels on as this text, as a GET's query would).
    mutating func formText() async throws -> String {
        let bytes = try await formBytes()
        _ = try FormBody(parsing: bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func formBytes() async throws -> [UInt8] {
        guard let contentType = headers[.contentType], Self.isFormURLEncoded(contentType) else {
            throw OAuthError.invalidRequest("Content-Type must be application/x-www-form-urlencoded")
        }
        // Refused on the announcement alone: a client that says it will send more than
        // the cap is not waited for (nor told to continue, for `Expect: 100-continue`).
        if let length = headers[.contentLength].flatMap(Int.init), length > Self.maximumFormBytes {
            throw OAuthError.invalidRequest("The request body exceeds 64 KiB")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await collectBody(upTo: Self.maximumFormBytes)
        } catch {
            throw OAuthError.invalidRequest("The request body exceeds 64 KiB or could not be read")
        }
        return Array(buffer.readableBytesView)
    }

    /// The Authorization header, if any.
    var authorization: String? { headers[.authorization] }

    /// `application/x-www-form-urlencoded`, optionally with `charset=utf-8`.
    static func isFormURLEncoded(_ value: String) -> Bool {
        if value == "application/x-www-form-urlencoded" { return true }  // what nearly every client sends
        let parts = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard parts.first == "application/x-www-form-urlencoded" else { return false }
        return parts.dropFirst().allSatisfy { !$0.hasPrefix("charset=") || $0 == "charset=utf-8" || $0 == "charset=\"utf-8\"" }
    }
}
