import Testing
import WardenCore

@Suite("Audience selection (RFC 8707)")
struct AudienceSelectionTests {
    let registered = ["https://api.example.com", "https://reports.example.com"]

    @Test("without resource: the first registered audience")
    func defaultAudience() throws {
        #expect(try AudienceSelection.select(requested: [], registered: registered, defaultAudience: "https://issuer") == ["https://api.example.com"])
    }

    @Test("without registered audiences: the server default")
    func serverDefault() throws {
        #expect(try AudienceSelection.select(requested: [], registered: [], defaultAudience: "https://issuer") == ["https://issuer"])
    }

    @Test("resource selects registered audiences, several give a list")
    func selects() throws {
        #expect(try AudienceSelection.select(requested: ["https://reports.example.com"], registered: registered, defaultAudience: "x") == ["https://reports.example.com"])
        #expect(try AudienceSelection.select(requested: registered.reversed(), registered: registered, defaultAudience: "x") == registered.reversed())
    }

    @Test("unregistered, relative or fragment resources are invalid_target",
          arguments: ["https://evil.example.com", "api.example.com", "https://api.example.com#x", "/relative"])
    func invalidTarget(resource: String) {
        let error = #expect(throws: OAuthError.self) {
            try AudienceSelection.select(requested: [resource], registered: registered, defaultAudience: "x")
        }
        #expect(error?.code == .invalidTarget)
    }
}
