import Foundation
import Testing

@testable import WardenMigrations
import WardenCore

@Suite("Stored lists")
struct StoredFormTests {
    /// Lists whose JSON needs escapes the fast path must not take, and plain ones it must.
    static let lists: [[String]] = [
        [], [""], ["", ""], ["https://api.example.com"], ["https://a.example/x", "urn:b", "é ünïcode"],
        ["a\",\"b"], ["quote\"inside"], ["back\\slash"], ["back\\/slash"], ["tab\tand\nnewline"], ["\u{1}"], ["end\\"],
        ["[", "]"], ["\",\""],
    ]

    @Test("every list reads back as it was written, with or without JSONDecoder", arguments: lists)
    func roundTrip(_ list: [String]) throws {
        let json = try StoredForm.json(list)
        #expect(try StoredForm.strings(json) == list)
        if let fast = StoredForm.plainStrings(json) { #expect(fast == list) }
    }

    @Test("the fast path takes plain lists and declines escapes other than \\/")
    func fastPath() throws {
        #expect(StoredForm.plainStrings(try StoredForm.json(["https://api.example.com", "urn:x"])) == ["https://api.example.com", "urn:x"])
        #expect(StoredForm.plainStrings(try StoredForm.json(["quote\"inside"])) == nil)
        #expect(StoredForm.plainStrings(try StoredForm.json(["back\\slash"])) == nil)
        #expect(StoredForm.plainStrings("not json") == nil)
        #expect(StoredForm.plainStrings("[1,2]") == nil)
    }

    @Test("random lists round-trip")
    func randomLists() throws {
        let alphabet = Array("ab/\\\",: éü\t[]{}")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let list = (0..<Int.random(in: 0...4, using: &generator)).map { _ in
                String((0..<Int.random(in: 0...6, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            }
            let json = try StoredForm.json(list)
            #expect(try StoredForm.strings(json) == list, "\(json)")
        }
    }
}
