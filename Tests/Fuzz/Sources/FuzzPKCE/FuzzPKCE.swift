import Crypto
import Foundation
import FuzzSupport
import WardenCore

/// PKCE verifier checks (RFC 7636): the input is a verifier, then (after a newline) a challenge.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzPKCE(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    let parts = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false)
    let verifier = String(decoding: parts.first ?? [], as: UTF8.self)
    let challenge = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
    let valid = PKCE.isValidVerifier(verifier)
    let s256 = Base64URL.encode(SHA256.hash(data: Data(verifier.utf8)))
    invariant(PKCE.verify(verifier: verifier, challenge: s256, method: .s256) == valid, "S256 of the verifier itself")
    invariant(PKCE.verify(verifier: verifier, challenge: verifier, method: .plain) == valid, "plain with the verifier itself")
    if PKCE.verify(verifier: verifier, challenge: challenge, method: .s256) {
        invariant(valid && challenge == s256, "a wrong S256 challenge was accepted")
    }
    if PKCE.verify(verifier: verifier, challenge: challenge, method: .plain) {
        invariant(valid && challenge == verifier, "a wrong plain challenge was accepted")
    }
    return 0
}

runFuzzer(fuzzPKCE)
