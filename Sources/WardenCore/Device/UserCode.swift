/// RFC 8628 §6.1: the short code a person types on a second screen. Eight characters
/// from twenty consonants (no vowels, so no words; no look-alike digits): about 34.6
/// bits, shown as `XXXX-XXXX`. Guessing is held back by rate limiting, not by length.
public enum UserCode {
    public static let alphabet = Array("BCDFGHJKLMNPQRSTVWXZ")
    public static let length = 8

    /// A fresh code, in its stored form (no dash).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// What a person typed, in the stored form: upper-cased, dashes and spaces dropped;
    /// nil when it cannot be a code.
    public static func normalized(_ typed: String) -> String? {
        let characters = typed.uppercased().filter { $0 != "-" && !$0.isWhitespace }
        guard characters.count == length, characters.allSatisfy(alphabet.contains) else { return nil }
        return String(characters)
    }

    /// The stored form as shown: `XXXX-XXXX`.
    public static func display(_ code: String) -> String {
        guard code.count == length else { return code }
        return String(code.prefix(length / 2)) + "-" + String(code.suffix(length / 2))
    }
}
