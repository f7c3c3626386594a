import Foundation
import FuzzSupport
import WardenCore

/// A DPoP proof (RFC 9449 §4.3) as the token endpoint reads it, from the `DPoP` header:
/// the compact JWS, its embedded JWK and every claim. A proof the verifier accepts must be
/// signed by the key it names and say what the request was; its thumbprint must be the
/// one that key always has.
let now = Date(timeIntervalSince1970: 1_800_000_000)
let verifier = DPoPProofVerifier(
    configuration: .init(proofLifetime: 60), issuer: "https://issuer.example", nonces: DPoPNonces(secret: Array(repeating: 1, count: 32)),
    usedJTIs: FuzzProofs(), clock: FuzzClock(date: now))

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzDPoPProof(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: fuzzInput(data, size), as: UTF8.self)
    guard let proof = try? verifier.check([text], method: "POST", path: "/token") else { return 0 }
    let jws = try? CompactJWS(text)
    invariant(jws?.header["typ"] as? String == "dpop+jwt", "a proof without typ dpop+jwt was accepted")
    invariant(jws?.string("htm") == "POST", "a proof for another method was accepted")
    guard let member = jws?.header["jwk"] as? [String: Any], let key = try? ClientJWK(json: member) else {
        fatalError("invariant broken: an accepted proof has no usable jwk")
    }
    invariant(jws?.isSigned(by: key) == true, "an unsigned proof was accepted")
    invariant(key.thumbprint == proof.thumbprint && proof.thumbprint.utf8.count == 43, "the thumbprint is not the key's")
    return 0
}

runFuzzer(fuzzDPoPProof)
