import HTTPTypes

extension HTTPField.Name {
    /// `Pragma` (RFC 9111 §5.4), for HTTP/1.0 caches on token responses.
    static let pragma = known("Pragma")
    /// `X-Frame-Options` (RFC 7034): pages must never be framed.
    static let xFrameOptions = known("X-Frame-Options")
    /// `Referrer-Policy`: pages leak no URL to the next site.
    static let referrerPolicy = known("Referrer-Policy")
    /// `X-Request-Id`: the id the request log line carries, taken from the request or made.
    static let xRequestID = known("X-Request-Id")
    /// `DPoP` (RFC 9449 §4.1): a proof of possession of the client's key.
    static let dpop = known("DPoP")
    /// `DPoP-Nonce` (RFC 9449 §8): the nonce the next proof must carry.
    static let dpopNonce = known("DPoP-Nonce")

    /// A header name HTTPTypes has no constant for. The argument is a literal token,
    /// so the check can only fail through a typo here.
    private static func known(_ name: String) -> HTTPField.Name {
        guard let field = HTTPField.Name(name) else { preconditionFailure("\(name) is not a header name") }
        return field
    }
}
