import Foundation
import Testing
import WardenCore

@Suite("Hand-written encoders")
struct EncodingTests {
    @Test("base64url matches RFC 4648 §10 (no padding) and Foundation's encoding", arguments: ["", "f", "fo", "foo", "foob", "fooba", "foobar"])
    func base64URLVectors(_ text: String) {
        let expected = Data(text.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        #expect(Base64URL.encode(Array(text.utf8)) == expected)
        #expect(Base64URL.decode(Base64URL.encode(Array(text.utf8))) == Data(text.utf8))
    }

    @Test("base64url uses - and _ and round-trips every byte value")
    func base64URLAlphabet() {
        let bytes = (0...255).map(UInt8.init) + [0xFB, 0xFF, 0xFE]
        let encoded = Base64URL.encode(bytes)
        #expect(!encoded.contains("+") && !encoded.contains("/") && !encoded.contains("="))
        #expect(encoded.contains("-") && encoded.contains("_"))
        #expect(Base64URL.decode(encoded) == Data(bytes))
    }

    @Test("base64url decoding refuses padding, other characters and a lone last character; the canonical one also stray bits", arguments: [
        ("Zg==", false), ("Zm9v!", false), ("Zm9vY", false), ("Zm+v", false), ("Zm9v\n", false), ("Zh", true), ("Zg", true),
    ])
    func base64URLRefusals(_ text: String, decodesLeniently: Bool) {
        #expect((Base64URL.decode(text) != nil) == decodesLeniently)
        // "Zh" has a stray bit: one byte, two spellings; only "Zg" is canonical.
        #expect((Base64URL.decodeCanonical(text) != nil) == (text == "Zg"))
    }

    @Test("base64url decoding agrees with Foundation's on random bytes of every length up to 64")
    func base64URLAgainstFoundation() {
        for length in 0...64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
            let text = Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: "")
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            #expect(Base64URL.decodeCanonical(text) == Data(bytes))
        }
    }

    @Test("the JSON writer escapes what RFC 8259 requires and a JSON parser reads back every value")
    func jsonWriter() throws {
        let tricky = "quote\" backslash\\ slash/ newline\n tab\t nul\u{0} bell\u{7} é 漢字 🙂"
        var writer = JSONObjectWriter()
        writer.add("s", tricky)
        writer.add("n", -42)
        writer.add("t", true)
        writer.add("f", false)
        writer.add("list", ["a", tricky])
        writer.add("empty", [String]())
        let object = try #require(try JSONSerialization.jsonObject(with: Data(writer.finish())) as? [String: Any])
        #expect(object["s"] as? String == tricky)
        #expect(object["n"] as? Int == -42)
        #expect(object["t"] as? Bool == true && object["f"] as? Bool == false)
        #expect(object["list"] as? [String] == ["a", tricky])
        #expect((object["empty"] as? [String])?.isEmpty == true)
    }

    @Test("an empty object is {}")
    func emptyObject() {
        #expect(JSONObjectWriter().finish() == Array("{}".utf8))
    }

    @Test("token and introspection responses are the RFC's JSON")
    func responses() throws {
        let token = TokenResponse(accessToken: "a.b.c", expiresIn: 3600, scope: Scope(tokens: ["read", "write"]), refreshToken: "r")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(token.json)) as? [String: Any])
        #expect(body["access_token"] as? String == "a.b.c" && body["token_type"] as? String == "Bearer")
        #expect(body["expires_in"] as? Int == 3600 && body["scope"] as? String == "read write" && body["refresh_token"] as? String == "r")
        #expect(IntrospectionResponse.inactive.json == Array(#"{"active":false}"#.utf8))
    }
}
