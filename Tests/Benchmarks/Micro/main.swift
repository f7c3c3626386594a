import Benchmark
import Dispatch
import Foundation
import JWTKit
import Synchronization
import WardenCore
import WardenSQLite
import WardenTokens

// In-process microbenchmarks of the hot path's parts, on a real SQLite file:
//     swift run -c release warden-microbenchmarks
// The async ones run 100 calls in one task per iteration (their names say "x100"),
// so that waking the benchmark thread, which costs more than most of them, is
// paid once per 100 calls.

/// Runs `body` to completion from synchronous benchmark code.
@discardableResult
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> T {
    let box = Box<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            let value = try await body()
            box.value.withLock { $0 = value }
        } catch {
            box.error.withLock { $0 = error }
        }
        done.signal()
    }
    done.wait()
    // A failing benchmark is a broken setup: stop loudly.
    if let error = box.error.withLock({ $0 }) { fatalError("benchmark setup failed: \(error)") }
    guard let value = box.value.withLock({ $0 }) else { fatalError("benchmark task returned nothing") }
    return value
}

final class Box<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
    let error = Mutex<(any Error)?>(nil)
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-micro-\(UUID().uuidString)")
let store = try SQLiteStore(path: directory.appendingPathComponent("warden.sqlite").path)
let encryptionKey = KeyEncryptionKey.generate().key
let manager = SigningKeyManager(repository: store, encryptionKey: encryptionKey)
let esRing = KeyRing(issuer: "https://issuer.example", encryptionKey: encryptionKey)
let edRing = KeyRing(issuer: "https://issuer.example", encryptionKey: encryptionKey)
blocking {
    _ = try await manager.rotate(algorithm: .es256, leadTime: 0)
    try await esRing.load(try await store.allSigningKeys(), now: Date().addingTimeInterval(1))
}
blocking {
    _ = try await manager.rotate(algorithm: .edDSA, leadTime: 0)
    try await edRing.load(try await store.allSigningKeys(), now: Date().addingTimeInterval(1))
}

let (client, secret) = try ClientRegistration(name: "bench", grantTypes: [.clientCredentials], scope: "read write")
    .makeClient(now: Date())
blocking { try await store.insert(client) }
let clients = ClientCache(store: store, changes: store)
let authorization = "Basic " + Data("\(client.id):\(secret!.value)".utf8).base64EncodedString()
let body = Array("grant_type=client_credentials&scope=read&resource=https%3A%2F%2Fapi.example.com".utf8)
let claims = AccessTokenClaims(
    issuer: "https://issuer.example", subject: client.id, audience: ["https://api.example.com"], clientID: client.id,
    scope: Scope(tokens: ["read"]), issuedAt: Date(), expiresAt: Date().addingTimeInterval(3600), jwtID: RandomToken.make(byteCount: 16))
let token = blocking { try await esRing.sign(claims) }

// jwt-kit's own signing path, as Warden used it before the hand-written encoder.
let jwtKit = JWTKeyCollection()
blocking { await jwtKit.add(ecdsa: ES256PrivateKey(), kid: "bench") }
struct Payload: JWTPayload {
    var iss: IssuerClaim, sub: SubjectClaim, aud: AudienceClaim, client_id: String, scope: String
    var iat: IssuedAtClaim, exp: ExpirationClaim, jti: IDClaim
    func verify(using _: some JWTAlgorithm) throws {}
}
let payload = Payload(
    iss: "https://issuer.example", sub: .init(value: client.id), aud: .init(value: ["https://api.example.com"]), client_id: client.id,
    scope: "read", iat: .init(value: Date()), exp: .init(value: Date().addingTimeInterval(3600)), jti: .init(value: RandomToken.make(byteCount: 16)))

let introspection = IntrospectionEndpoint(
    authenticator: ClientAuthenticator(clients: clients), verifier: esRing, revocations: store, clients: clients, grants: store,
    changes: store, clock: SystemClock())
let introspectForm = try FormBody(parsing: Array("token=\(token)".utf8))

benchmark("form: parse a client-credentials body") { _ = try FormBody(parsing: body) }
benchmark("client auth: parse the Basic header") {
    _ = try PresentedClientCredentials.parse(authorization: authorization, form: FormBody([:]))
}
benchmark("client secret: digest check") { _ = client.secretDigest!.matches(secret!) }
benchmark("change check: PRAGMA data_version") { _ = try store.currentGenerations() }
benchmark("client lookup: cache hit x100") { blocking { for _ in 0..<100 { _ = try await clients.client(id: client.id) } } }
benchmark("client lookup: SQLite read x100") { blocking { for _ in 0..<100 { _ = try await store.client(id: client.id) } } }
benchmark("sign: ES256 access token, Warden's encoder x100") { blocking { for _ in 0..<100 { _ = try await esRing.sign(claims) } } }
benchmark("sign: ES256 access token, jwt-kit x100") { blocking { for _ in 0..<100 { _ = try await jwtKit.sign(payload, kid: "bench") } } }
benchmark("sign: EdDSA access token, Warden's encoder x100") { blocking { for _ in 0..<100 { _ = try await edRing.sign(claims) } } }
benchmark("verify: ES256 access token, jwt-kit x100") { blocking { for _ in 0..<100 { _ = await esRing.verify(token) } } }
benchmark("introspect: cached live token x100") {
    blocking { for _ in 0..<100 { _ = try await introspection.introspect(form: introspectForm, authorization: authorization) } }
}

Benchmark.main()
try? FileManager.default.removeItem(at: directory)
