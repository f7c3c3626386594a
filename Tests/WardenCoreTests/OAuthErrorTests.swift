import Testing
import WardenCore

@Suite("OAuth error rendering")
struct OAuthErrorTests {
    @Test("renders error and error_description (RFC 6749 §5.2)")
    func fields() {
        let error = OAuthError(.invalidScope, "too wide", cause: "internal detail")
        #expect(error.responseFields == ["error": "invalid_scope", "error_description": "too wide"])
    }

    @Test("the internal cause is never in the response")
    func causeIsPrivate() {
        let error = OAuthError.invalidClient(cause: "wrong secret")
        #expect(!error.responseFields.values.contains { $0.contains("wrong secret") })
        #expect(error.description.contains("wrong secret"))
    }

    @Test("descriptions are limited to the RFC 6749 character set")
    func sanitized() {
        let error = OAuthError(.invalidRequest, "bad \"quote\" and \\ and caf\u{e9}\n")
        #expect(error.publicDescription == "bad ?quote? and ? and caf??")
    }

    @Test("no description means only error")
    func noDescription() {
        #expect(OAuthError(.invalidGrant).responseFields == ["error": "invalid_grant"])
    }
}
