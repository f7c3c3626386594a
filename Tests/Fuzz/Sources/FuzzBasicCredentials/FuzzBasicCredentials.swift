import Foundation
import FuzzSupport
import WardenCore

/// HTTP Basic client credentials (RFC 6749 §2.3.1): base64, then form-url-decoding.
/// The input is the Authorization header; when it starts with `!` the rest is the
/// base64 payload, so the fuzzer reaches the decoding behind a valid base64 layer.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzBasicCredentials(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    let header =
        bytes.first == UInt8(ascii: "!")
        ? "Basic " + Data(bytes.dropFirst()).base64EncodedString() : String(decoding: bytes, as: UTF8.self)
    for form in [FormBody([:]), FormBody(["client_id": "someone"]), FormBody(["client_secret": "s"])] {
        guard let presented = try? PresentedClientCredentials.parse(authorization: header, form: form) else { continue }
        guard case .basic(let id, _) = presented else {
            fatalError("an Authorization header gave \(presented.method), not Basic")
        }
        invariant(!id.isEmpty && !id.utf8.contains(0), "empty or NUL client id")
        invariant(form["client_secret"] == nil, "two authentication methods were accepted")
        if let bodyID = form["client_id"] { invariant(bodyID == id, "a differing body client_id was accepted") }
    }
    return 0
}

runFuzzer(fuzzBasicCredentials)
