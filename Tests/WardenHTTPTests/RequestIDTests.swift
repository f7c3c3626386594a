import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// OPERATIONS.md: every response carries the request's id, the caller's when acceptable.
@Suite("Request ids")
struct RequestIDTests {
    @Test("an X-Request-Id of 1-128 characters of [A-Za-z0-9._-] is echoed; any other is replaced by a fresh one")
    func echoed() async throws {
        try await TestWarden.run { _, client in
            let name = HTTPField.Name("X-Request-Id")!
            for kept in ["a", "Abc-1.2_z", String(repeating: "f", count: 128)] {
                let response = try await client.execute(uri: "/healthz", method: .get, headers: [name: kept])
                #expect(response.headers[name] == kept)
            }
            var fresh: Set<String> = []
            for replaced in ["a b", String(repeating: "f", count: 129), "a/b", "é"] {
                let response = try await client.execute(uri: "/healthz", method: .get, headers: [name: replaced])
                let id = try #require(response.headers[name])
                #expect(id != replaced && id.count >= 16)
                fresh.insert(id)
            }
            #expect(fresh.count == 4)
        }
    }
}
