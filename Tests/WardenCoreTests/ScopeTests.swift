import Testing
import WardenCore

@Suite("Scope")
struct ScopeTests {
    @Test("parses space-delimited tokens, dropping duplicates and keeping order")
    func parsing() throws {
        let scope = try Scope(parsing: "b a  b c")
        #expect(scope.tokens == ["b", "a", "c"])
        #expect(scope.description == "b a c")
    }

    @Test("rejects characters outside RFC 6749 §3.3", arguments: ["a\"b", "a\\b", "caf\u{e9}", "tab\there"])
    func rejectsBadCharacters(text: String) {
        #expect(throws: OAuthError.self) { try Scope(parsing: text) }
        #expect((try? Scope(parsing: text)) == nil)
    }

    @Test("a subset is granted as asked")
    func subset() throws {
        let registered = try Scope(parsing: "invoices:read invoices:write")
        #expect(try Scope.granted(requested: "invoices:read", registered: registered).tokens == ["invoices:read"])
    }

    @Test("no scope requested grants the registered scope")
    func defaultScope() throws {
        let registered = try Scope(parsing: "invoices:read invoices:write")
        #expect(try Scope.granted(requested: nil, registered: registered) == registered)
    }

    @Test("a scope beyond the registered one is invalid_scope, never silently narrowed")
    func superset() throws {
        let registered = try Scope(parsing: "invoices:read")
        let error = #expect(throws: OAuthError.self) {
            try Scope.granted(requested: "invoices:read invoices:write", registered: registered)
        }
        #expect(error?.code == .invalidScope)
    }
}
