import FuzzSupport
import WardenCore

/// The form-body decoder (`/token`, `/introspect`, `/revoke`, `/login`, `/consent`, and
/// the `/authorize` query): never traps, and what it accepts keeps its promises.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzFormBody(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    guard let form = try? FormBody(parsing: bytes) else { return 0 }
    invariant((try? FormBody(parsing: bytes)) == form, "parsing is not deterministic")
    for name in ["grant_type", "client_id", "client_secret", "scope", "code", "redirect_uri", "token", "state"] {
        // OAuth 2.1: empty values count as absent; NUL is refused.
        if let value = form[name] { invariant(!value.isEmpty && !value.utf8.contains(0), "bad value for \(name)") }
    }
    invariant(form.values(of: "resource").allSatisfy { !$0.isEmpty }, "an empty resource was kept")
    return 0
}

runFuzzer(fuzzFormBody)
