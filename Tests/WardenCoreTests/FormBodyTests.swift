import Testing
import WardenCore

@Suite("Form body parsing")
struct FormBodyTests {
    func parse(_ text: String) throws(OAuthError) -> FormBody { try FormBody(parsing: Array(text.utf8)) }

    @Test("decodes plus and percent-encoding")
    func decoding() throws {
        let form = try parse("grant_type=client_credentials&scope=a+b%3Ac&x=%E2%9C%93")
        #expect(form["grant_type"] == "client_credentials")
        #expect(form["scope"] == "a b:c")
        #expect(form["x"] == "✓")
    }

    @Test("empty values count as absent")
    func emptyIsAbsent() throws {
        let form = try parse("scope=&grant_type=x&flag")
        #expect(form["scope"] == nil)
        #expect(form["flag"] == nil)
    }

    @Test("a repeated parameter is invalid_request")
    func repeated() {
        let error = #expect(throws: OAuthError.self) { try parse("grant_type=a&grant_type=b") }
        #expect(error?.code == .invalidRequest)
    }

    @Test("resource may repeat (RFC 8707)")
    func resourceRepeats() throws {
        let form = try parse("resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb")
        #expect(form.values(of: "resource") == ["https://a", "https://b"])
    }

    @Test("bad percent-encoding, invalid UTF-8 and NUL are rejected", arguments: ["a=%", "a=%4", "a=%zz", "a=%ff%fe", "a=%00", "=x"])
    func rejected(text: String) {
        let error = #expect(throws: OAuthError.self) { try parse(text) }
        #expect(error?.code == .invalidRequest)
    }

    @Test("raw invalid UTF-8 bytes are rejected")
    func rawInvalidUTF8() {
        #expect(throws: OAuthError.self) { try FormBody(parsing: [UInt8(ascii: "a"), UInt8(ascii: "="), 0xC3, 0x28]) }
    }

    @Test("more than the parameter limit is rejected")
    func tooMany() {
        let text = (0...FormBody.maximumParameterCount).map { "p\($0)=1" }.joined(separator: "&")
        #expect(throws: OAuthError.self) { try parse(text) }
        let fits = (1...FormBody.maximumParameterCount).map { "p\($0)=1" }.joined(separator: "&")
        #expect((try? parse(fits)) != nil)
    }
}
