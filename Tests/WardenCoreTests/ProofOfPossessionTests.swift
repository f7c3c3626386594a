import Crypto
import Foundation
import Testing
import WardenCore
import _CryptoExtras

/// A client's or a DPoP prover's key, signing compact JWS the way a client library does.
struct TestSigningKey {
    enum Kind { case p256(P256.Signing.PrivateKey), ed25519(Curve25519.Signing.PrivateKey), rsa(_RSA.Signing.PrivateKey) }
    let kind: Kind
    var kid: String?

    static func p256(kid: String? = "k1") -> TestSigningKey { TestSigningKey(kind: .p256(P256.Signing.PrivateKey()), kid: kid) }
    static func ed25519(kid: String? = "k1") -> TestSigningKey { TestSigningKey(kind: .ed25519(Curve25519.Signing.PrivateKey()), kid: kid) }
    static func rsa(kid: String? = "k1") throws -> TestSigningKey { TestSigningKey(kind: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)), kid: kid) }

    /// The public JWK.
    var jwk: [String: Any] {
        var jwk: [String: Any]
        switch kind {
        case .p256(let key):
            let point = key.publicKey.x963Representation
            jwk = ["kty": "EC", "crv": "P-256", "x": Base64URL.encode(point[1..<33]), "y": Base64URL.encode(point[33...])]
        case .ed25519(let key):
            jwk = ["kty": "OKP", "crv": "Ed25519", "x": Base64URL.encode(key.publicKey.rawRepresentation)]
        case .rsa(let key):
            let components = try! key.publicKey.getKeyPrimitives()
            jwk = ["kty": "RSA", "n": Base64URL.encode(components.modulus), "e": Base64URL.encode(components.publicExponent)]
        }
        if let kid { jwk["kid"] = kid }
        return jwk
    }

    var jwksText: String {
        String(decoding: try! JSONSerialization.data(withJSONObject: ["keys": [jwk]]), as: UTF8.self)
    }

    var defaultAlgorithm: String {
        switch kind {
        case .p256: "ES256"
        case .ed25519: "EdDSA"
        case .rsa: "PS256"
        }
    }

    /// A compact JWS of `payload` under `header` (alg defaults to the key's).
    func sign(header: [String: Any] = [:], payload: [String: Any]) throws -> String {
        var header = header
        if header["alg"] == nil { header["alg"] = defaultAlgorithm }
        let input = Base64URL.encode(try JSONSerialization.data(withJSONObject: header)) + "."
            + Base64URL.encode(try JSONSerialization.data(withJSONObject: payload))
        let data = Data(input.utf8)
        let signature: Data
        switch kind {
        case .p256(let key): signature = try key.signature(for: data).rawRepresentation
        case .ed25519(let key): signature = try key.signature(for: data)
        case .rsa(let key):
            let padding: _RSA.Signing.Padding = header["alg"] as? String == "RS256" ? .insecurePKCS1v1_5 : .PSS
            signature = try key.signature(for: SHA256.hash(data: data), padding: padding).rawRepresentation
        }
        return input + "." + Base64URL.encode(signature)
    }
}

@Suite("Client keys (RFC 7517, RFC 7638)")
struct ClientJWKTests {
    @Test("thumbprints match RFC 8037 A.3 (Ed25519) and RFC 7638 §3.1 (RSA)")
    func thumbprints() throws {
        let ed = try ClientJWK(json: ["kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"])
        #expect(ed.thumbprint == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        let rsa = try ClientJWK(json: ["kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"])
        #expect(rsa.thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test("a private member, another curve, a short RSA key or an unknown alg is refused", arguments: [
        ["d"], ["crv:P-384"], ["alg:HS256"], ["kty:oct"], ["x:padded"],
    ])
    func refused(_ change: [String]) throws {
        var jwk = TestSigningKey.p256().jwk
        switch change[0] {
        case "d": jwk["d"] = "AAAA"
        case "crv:P-384": jwk["crv"] = "P-384"
        case "alg:HS256": jwk["alg"] = "HS256"
        case "kty:oct": jwk = ["kty": "oct", "k": "c2VjcmV0"]
        default: jwk["x"] = (jwk["x"] as! String) + "="
        }
        #expect(throws: ClientJWK.Invalid.self) { try ClientJWK(json: jwk) }
    }

    @Test("an RSA key under 2048 bits is refused")
    func shortRSA() throws {
        let key = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
        let parts = try key.publicKey.getKeyPrimitives()
        #expect(throws: ClientJWK.Invalid.self) {
            try ClientJWK(json: ["kty": "RSA", "n": Base64URL.encode(parts.modulus), "e": Base64URL.encode(parts.publicExponent)])
        }
    }

    @Test("a key verifies its own algorithm only: an RS256 header on an EC key, or a JWK's own alg, decides")
    func algorithmFits() throws {
        let ec = try ClientJWK(json: TestSigningKey.p256().jwk)
        #expect(ec.fits(.es256) && !ec.fits(.rs256) && !ec.fits(.edDSA))
        var jwk = try TestSigningKey.rsa().jwk
        jwk["alg"] = "RS256"
        let rsa = try ClientJWK(json: jwk)
        #expect(rsa.fits(.rs256) && !rsa.fits(.ps256))
    }
}

@Suite("private_key_jwt (RFC 7523)")
struct ClientAssertionTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let issuer = "https://issuer.example"

    func client(_ key: TestSigningKey) -> Client {
        var (client, _) = Client.confidential(id: "svc", method: .privateKeyJWT)
        client.secretDigest = nil
        client.jwks = key.jwksText
        return client
    }

    func verifier(_ proofs: InMemoryProofs = InMemoryProofs()) -> ClientAssertionVerifier {
        ClientAssertionVerifier(issuer: issuer, keys: ClientKeys(fetcher: nil), usedJTIs: proofs, clock: FixedClock(date: now))
    }

    func claims(_ changes: [String: Any?] = [:]) -> [String: Any] {
        var claims: [String: Any] = [
            "iss": "svc", "sub": "svc", "aud": issuer + "/token", "exp": Int(now.timeIntervalSince1970) + 60,
            "iat": Int(now.timeIntervalSince1970), "jti": UUID().uuidString,
        ]
        for (name, value) in changes { claims[name] = value }
        return claims
    }

    @Test("a good assertion authenticates once; its replay is refused", arguments: ["p256", "ed25519", "rsa-PS256", "rsa-RS256"])
    func good(_ kind: String) async throws {
        let key: TestSigningKey = switch kind {
        case "p256": .p256()
        case "ed25519": .ed25519()
        default: try .rsa()
        }
        let header: [String: Any] = kind == "rsa-RS256" ? ["alg": "RS256"] : [:]
        let assertion = try key.sign(header: header, payload: claims())
        let verifier = verifier()
        try await verifier.verify(ClientAssertion(assertion), client: client(key), endpoint: "/token")
        await #expect(throws: OAuthError.self) { try await verifier.verify(ClientAssertion(assertion), client: client(key), endpoint: "/token") }
    }

    @Test("aud may be the issuer, the token endpoint or the endpoint's own URL, alone or in an array", arguments: [
        "https://issuer.example", "https://issuer.example/token", "https://issuer.example/par", "array",
    ])
    func audiences(_ audience: String) async throws {
        let key = TestSigningKey.p256()
        let aud: Any = audience == "array" ? ["https://other", "https://issuer.example"] : audience
        try await verifier().verify(ClientAssertion(try key.sign(payload: claims(["aud": aud]))), client: client(key), endpoint: "/par")
    }

    @Test("every broken rule is invalid_client", arguments: [
        "aud elsewhere", "iss other", "sub other", "no exp", "expired", "exp beyond 10 minutes", "iat in the future", "nbf ahead",
        "no jti", "alg none", "alg HS256", "RS256 on an EC key", "another key", "unknown kid", "crit", "exp a string",
    ])
    func broken(_ rule: String) async throws {
        let key = TestSigningKey.p256()
        let t = Int(now.timeIntervalSince1970)
        var header: [String: Any] = ["kid": "k1"]
        var payload = claims()
        var signer = key
        switch rule {
        case "aud elsewhere": payload["aud"] = "https://elsewhere/token"
        case "iss other": payload["iss"] = "other"
        case "sub other": payload["sub"] = "other"
        case "no exp": payload["exp"] = nil
        case "expired": payload["exp"] = t - 1
        case "exp beyond 10 minutes": payload["exp"] = t + 601
        case "iat in the future": payload["iat"] = t + 61
        case "nbf ahead": payload["nbf"] = t + 61
        case "no jti": payload["jti"] = nil
        case "alg none": header["alg"] = "none"
        case "alg HS256": header["alg"] = "HS256"
        case "RS256 on an EC key": header["alg"] = "RS256"
        case "another key": signer = TestSigningKey.p256()
        case "unknown kid": header["kid"] = "k2"
        case "crit": header["crit"] = ["exp"]
        default: payload["exp"] = "\(t + 60)"
        }
        let assertion = try signer.sign(header: header, payload: payload)
        // Through the authenticator, as /token reads it: a JWS that cannot even be read is refused alike.
        let authenticator = ClientAuthenticator(clients: InMemoryClients([client(key)]), clock: FixedClock(date: now), assertions: verifier())
        let form = FormBody(["client_id": "svc", "client_assertion_type": ClientAssertionVerifier.assertionType, "client_assertion": assertion])
        let error = await #expect(throws: OAuthError.self) { try await authenticator.authenticate(authorization: nil, form: form, address: nil) }
        #expect(error?.code == .invalidClient)
        #expect(error?.publicDescription == "Client authentication failed")
    }

    @Test("the authenticator reads the assertion's iss as the client id, and refuses a second method beside it")
    func presented() async throws {
        let key = TestSigningKey.p256()
        let assertion = try key.sign(payload: claims())
        let form = FormBody(["client_assertion_type": ClientAssertionVerifier.assertionType, "client_assertion": assertion])
        #expect(try PresentedClientCredentials.parse(authorization: nil, form: form) == .privateKeyJWT(clientID: "svc", assertion: ClientAssertion(assertion)))
        let authenticator = ClientAuthenticator(clients: InMemoryClients([client(key)]), clock: FixedClock(date: now), assertions: verifier())
        #expect(try await authenticator.authenticate(authorization: nil, form: form, address: nil).id == "svc")
        #expect(throws: OAuthError.self) { try PresentedClientCredentials.parse(authorization: basic("svc", "x"), form: form) }
        var withSecret = form
        withSecret.set("client_secret", "x")
        #expect(throws: OAuthError.self) { try PresentedClientCredentials.parse(authorization: nil, form: withSecret) }
    }
}

@Suite("DPoP proofs (RFC 9449 §4.3) and nonces (§8)")
struct DPoPProofTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func verifier(requireNonce: Bool = false, proofs: InMemoryProofs = InMemoryProofs()) -> DPoPProofVerifier {
        DPoPProofVerifier(
            configuration: .init(proofLifetime: 60, requireNonce: requireNonce), issuer: "https://issuer.example",
            nonces: DPoPNonces(secret: Array(repeating: 7, count: 32)), usedJTIs: proofs, clock: FixedClock(date: now))
    }

    func proof(_ changes: [String: Any?] = [:], key: TestSigningKey = .p256(kid: nil), header: [String: Any] = [:]) throws -> String {
        var payload: [String: Any] = [
            "jti": UUID().uuidString, "htm": "POST", "htu": "https://issuer.example/token", "iat": Int(now.timeIntervalSince1970),
        ]
        for (name, value) in changes { payload[name] = value }
        var fullHeader: [String: Any] = ["typ": "dpop+jwt", "jwk": key.jwk]
        for (name, value) in header { fullHeader[name] = value }
        return try key.sign(header: fullHeader, payload: payload)
    }

    @Test("a good proof gives its key's thumbprint; its jti is spent once")
    func good() async throws {
        let key = TestSigningKey.p256(kid: nil)
        let verifier = verifier()
        let checked = try #require(try verifier.check([proof(key: key)], method: "POST", path: "/token"))
        #expect(checked.thumbprint == (try ClientJWK(json: key.jwk)).thumbprint)
        try await verifier.spend(checked)
        await #expect(throws: OAuthError.self) { try await verifier.spend(checked) }
        #expect(try verifier.check([], method: "POST", path: "/token") == nil)
    }

    @Test("htu is compared after normalisation, without query or fragment", arguments: [
        "https://ISSUER.example/token", "https://issuer.example:443/token", "https://issuer.example/token?x=1#f",
    ])
    func htuNormalised(_ htu: String) throws {
        #expect(try verifier().check([proof(["htu": htu])], method: "POST", path: "/token") != nil)
    }

    @Test("every broken rule is invalid_dpop_proof", arguments: [
        "typ", "alg none", "alg HS256", "no jwk", "private jwk", "another key", "htm", "htu path", "htu host", "http scheme",
        "iat old", "iat ahead", "no iat", "no jti", "two headers", "not a JWT",
    ])
    func broken(_ rule: String) throws {
        let key = TestSigningKey.p256(kid: nil)
        var headers: [String]
        switch rule {
        case "typ": headers = [try proof(header: ["typ": "JWT"])]
        case "alg none": headers = [try proof(header: ["alg": "none"])]
        case "alg HS256": headers = [try proof(header: ["alg": "HS256"])]
        case "no jwk": headers = [try proof(header: ["jwk": NSNull()])]
        case "private jwk":
            var jwk = key.jwk
            jwk["d"] = "AAAA"
            headers = [try proof(key: key, header: ["jwk": jwk])]
        case "another key": headers = [try proof(key: key, header: ["jwk": TestSigningKey.p256(kid: nil).jwk])]
        case "htm": headers = [try proof(["htm": "GET"])]
        case "htu path": headers = [try proof(["htu": "https://issuer.example/userinfo"])]
        case "htu host": headers = [try proof(["htu": "https://evil.example/token"])]
        case "http scheme": headers = [try proof(["htu": "http://issuer.example/token"])]
        case "iat old": headers = [try proof(["iat": Int(now.timeIntervalSince1970) - 61])]
        case "iat ahead": headers = [try proof(["iat": Int(now.timeIntervalSince1970) + 61])]
        case "no iat": headers = [try proof(["iat": nil])]
        case "no jti": headers = [try proof(["jti": nil])]
        case "two headers": headers = [try proof(), try proof()]
        default: headers = ["not.a.jwt"]
        }
        let error = #expect(throws: OAuthError.self) { try verifier().check(headers, method: "POST", path: "/token") }
        #expect(error?.code == .invalidDPoPProof)
    }

    @Test("ath must be the presented token's SHA-256")
    func ath() throws {
        let token = "an-access-token"
        let hash = Base64URL.encode(SHA256.hash(data: Data(token.utf8)))
        let good = try proof(["ath": hash, "htm": "GET", "htu": "https://issuer.example/userinfo"])
        #expect(try verifier().check([good], method: "GET", path: "/userinfo", accessToken: token) != nil)
        let bad = try proof(["ath": hash, "htm": "GET", "htu": "https://issuer.example/userinfo"])
        #expect(throws: OAuthError.self) { try verifier().check([bad], method: "GET", path: "/userinfo", accessToken: "another") }
    }

    @Test("with nonces required, a proof without the current nonce is use_dpop_nonce carrying a fresh one, which then works")
    func nonce() throws {
        let verifier = verifier(requireNonce: true)
        let error = #expect(throws: OAuthError.self) { try verifier.check([proof()], method: "POST", path: "/token", nonce: true) }
        #expect(error?.code == .useDPoPNonce)
        let nonce = try #require(error?.dpopNonce)
        #expect(try verifier.check([proof(["nonce": nonce])], method: "POST", path: "/token", nonce: true) != nil)
        #expect(throws: OAuthError.self) { try verifier.check([proof(["nonce": "made-up"])], method: "POST", path: "/token", nonce: true) }
    }

    @Test("a nonce is accepted for at least 30 s, on any instance with the secret, and not after two steps")
    func nonceLifetime() {
        let nonces = DPoPNonces(secret: Array(repeating: 1, count: 32))
        let start = Date(timeIntervalSince1970: 1_800_000_020)
        let nonce = nonces.nonce(at: start)
        #expect(DPoPNonces(secret: Array(repeating: 1, count: 32)).accepts(nonce, at: start.addingTimeInterval(30)))
        #expect(nonces.accepts(nonce, at: start.addingTimeInterval(-20)))
        #expect(!nonces.accepts(nonce, at: start.addingTimeInterval(65)))
        #expect(!DPoPNonces(secret: Array(repeating: 2, count: 32)).accepts(nonce, at: start))
    }

    @Test("the token endpoint binds a token to the proof's key, and a --require-dpop client needs a proof")
    func tokenEndpoint() async throws {
        var (client, secret) = Client.confidential()
        client.dpopBoundAccessTokens = true
        let signer = RecordingSigner()
        let grant = ClientCredentialsGrant(
            configuration: .init(issuer: "https://issuer.example", accessTokenLifetime: 600, defaultAudience: "https://issuer.example"),
            signer: signer, clock: FixedClock(date: now))
        let endpoint = TokenEndpoint(
            authenticator: ClientAuthenticator(clients: InMemoryClients([client])), handlers: [.clientCredentials: grant], dpop: verifier())
        let form = FormBody(["grant_type": "client_credentials"])
        let error = await #expect(throws: OAuthError.self) { try await endpoint.respond(to: form, authorization: basic(client.id, secret.value)) }
        #expect(error?.code == .invalidDPoPProof)
        let key = TestSigningKey.p256(kid: nil)
        let (_, response) = try await endpoint.respond(to: form, authorization: basic(client.id, secret.value), dpopProofs: [proof(key: key)])
        #expect(response.tokenType == "DPoP")
        #expect(await signer.verify(response.accessToken)?.confirmationThumbprint == (try ClientJWK(json: key.jwk)).thumbprint)
    }
}
