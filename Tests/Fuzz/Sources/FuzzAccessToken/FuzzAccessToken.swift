import Foundation
import FuzzSupport
import WardenCore
import WardenTokens

/// JWT parsing as introspection and revocation do it (`KeyRing.verify`). Inputs that
/// start with `~` edit a token this process signed (offset, then replacement bytes):
/// an edited token must never verify unless its signed parts are unchanged. Any
/// other input is handed over as a token string.
enum Setup {
    static let encryptionKey = KeyEncryptionKey.generate().key
    static let repositories = FuzzRepositories(clients: [])
    static let ring = KeyRing(issuer: "https://issuer.example", encryptionKey: encryptionKey)
    /// A token signed by `ring`'s key.
    static let genuine: String = blocking {
        do {
            _ = try await SigningKeyManager(repository: repositories, encryptionKey: encryptionKey).rotate(algorithm: .es256, leadTime: 0)
            try await ring.load(try await repositories.allSigningKeys(), now: Date().addingTimeInterval(1))
            let now = Date()
            return try await ring.sign(AccessTokenClaims(
                issuer: "https://issuer.example", subject: "alice", audience: ["https://api.example"], clientID: "spa",
                scope: Scope(tokens: ["read"]), issuedAt: now, expiresAt: now.addingTimeInterval(86_400), jwtID: "fuzz", grantID: "g"))
        } catch {
            fatalError("setup: \(error)")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzAccessToken(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    let token: String
    if bytes.first == UInt8(ascii: "~"), bytes.count >= 3 {
        var edited = Array(Setup.genuine.utf8)
        let offset = (Int(bytes[1]) << 8 | Int(bytes[2])) % edited.count
        let replacement = bytes.dropFirst(3)
        edited.replaceSubrange(offset..<min(edited.count, offset + replacement.count), with: replacement)
        token = String(decoding: edited, as: UTF8.self)
    } else {
        token = String(decoding: bytes, as: UTF8.self)
    }
    guard let claims = blocking({ await Setup.ring.verify(token) }) else { return 0 }
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    let original = Setup.genuine.split(separator: ".", omittingEmptySubsequences: false)
    invariant(parts.count == 3 && parts[0] == original[0] && parts[1] == original[1], "an edited header or payload verified")
    invariant(Base64URL.decode(parts[2]) == Base64URL.decode(original[2]), "a different signature verified")
    invariant(claims.subject == "alice" && claims.grantID == "g", "claims changed")
    return 0
}

_ = Setup.genuine  // set up before fuzzing, so its allocations are not counted against an input
runFuzzer(fuzzAccessToken)
