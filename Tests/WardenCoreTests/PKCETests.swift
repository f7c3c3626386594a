import Foundation
import Testing
import WardenCore

@Suite("PKCE (RFC 7636)")
struct PKCETests {
    @Test("RFC 7636 Appendix B test vector")
    func appendixB() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        #expect(PKCE.verify(verifier: verifier, challenge: challenge, method: .s256))
        #expect(!PKCE.verify(verifier: verifier + "x", challenge: challenge, method: .s256))
        #expect(!PKCE.verify(verifier: verifier, challenge: challenge, method: .plain))
    }

    @Test("verifiers are 43 to 128 unreserved characters", arguments: [
        (String(repeating: "a", count: 42), false), (String(repeating: "a", count: 43), true),
        (String(repeating: "a", count: 128), true), (String(repeating: "a", count: 129), false),
        (String(repeating: "a", count: 42) + "~", true), (String(repeating: "a", count: 42) + "+", false),
        (String(repeating: "a", count: 42) + "é", false),
    ])
    func verifierFormat(verifier: String, valid: Bool) {
        #expect(PKCE.isValidVerifier(verifier) == valid)
    }

    @Test("an S256 challenge is 43 base64url characters")
    func challengeFormat() {
        #expect(PKCE.isValidChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", method: .s256))
        #expect(!PKCE.isValidChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c", method: .s256))
        #expect(!PKCE.isValidChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=", method: .s256))
    }

    @Test("a verifier that is not well formed never verifies, even with plain")
    func malformedVerifier() {
        #expect(!PKCE.verify(verifier: "short", challenge: "short", method: .plain))
    }
}

@Suite("Redirect URI matching")
struct RedirectURIMatcherTests {
    let registered = ["https://app.example.com/callback", "http://127.0.0.1:8765/callback", "http://[::1]/cb"]

    @Test("exact string match")
    func exact() {
        #expect(RedirectURIMatcher.match("https://app.example.com/callback", registered: registered) == "https://app.example.com/callback")
    }

    @Test("loopback IP literals may use any port (RFC 8252 §7.3)", arguments: [
        "http://127.0.0.1:9999/callback", "http://127.0.0.1/callback", "http://[::1]:4000/cb",
    ])
    func loopbackPorts(uri: String) {
        #expect(RedirectURIMatcher.match(uri, registered: registered) != nil)
    }

    @Test("everything else must match to the letter", arguments: [
        "https://app.example.com/callback/", "https://app.example.com/Callback", "https://APP.example.com/callback",
        "https://app.example.com:443/callback", "http://app.example.com/callback", "https://app.example.com/callback?x=1",
        "https://app.example.com/callback#frag", "https://evil@app.example.com/callback", "https://app.example.com.evil.com/callback",
        "https://app.example.com/callback%2F..%2Fevil", "http://127.0.0.1:9999/callback/other", "http://localhost:8765/callback",
        "https://127.0.0.1:8765/callback", "http://127.0.0.1:8765/callback#x", "http://user@127.0.0.1:8765/callback",
        "http://127.0.0.1:99999/callback", "http://127.0.0.1:0/callback",
    ])
    func mismatches(uri: String) {
        #expect(RedirectURIMatcher.match(uri, registered: registered) == nil)
    }
}

@Suite("Failure rate limiter")
struct FailureRateLimiterTests {
    @Test("admits up to the limit, then refuses until the attempts are a window old; a forgiven attempt frees its place")
    func window() {
        let limiter = FailureRateLimiter(limit: 3, window: 60)
        let start = Date(timeIntervalSince1970: 1000)
        for i in 0..<3 { #expect(limiter.admit("alice", now: start.addingTimeInterval(Double(i))) == nil) }
        #expect(limiter.admit("alice", now: start.addingTimeInterval(3)) == 57)
        #expect(limiter.admit("bob", now: start.addingTimeInterval(3)) == nil)
        limiter.forgive("alice", admittedAt: start.addingTimeInterval(2))
        #expect(limiter.admit("alice", now: start.addingTimeInterval(4)) == nil)
        #expect(limiter.admit("alice", now: start.addingTimeInterval(60.5)) == nil)
    }

    @Test("memory is bounded: past its capacity the oldest key goes, and a sweep drops aged-out keys")
    func bounded() {
        let limiter = FailureRateLimiter(limit: 2, window: 60, capacity: 1000)
        let start = Date(timeIntervalSince1970: 1000)
        for i in 0..<5000 { _ = limiter.admit("key-\(i)", now: start) }
        #expect(limiter.count == 1000)
        // The newest keys are the ones kept.
        _ = limiter.admit("key-4999", now: start)
        #expect(limiter.admit("key-4999", now: start) == 60)
        limiter.sweep(now: start.addingTimeInterval(61))
        #expect(limiter.count == 0)
    }
}
