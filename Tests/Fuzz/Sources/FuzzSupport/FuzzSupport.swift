import CLibFuzzer
import Dispatch
import Foundation
import Synchronization
import WardenCore

/// Hands `target` to libFuzzer, which runs until its options (`-max_total_time`, ...) end it.
/// Each fuzz executable's top-level code calls this: SwiftPM gives executables a `main`
/// of their own, so libFuzzer's is not used.
public func runFuzzer(_ target: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv = Optional(CommandLine.unsafeArgv)
    exit(LLVMFuzzerRunDriver(&argc, &argv, target))
}

/// The bytes libFuzzer hands a target.
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Stops the fuzzer with a finding: an invariant of the code under test broke.
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("invariant broken: \(message())") }
}

/// Runs async code to completion from libFuzzer's synchronous callback.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let result = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await body()
        result.value.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    guard let value = result.value.withLock({ $0 }) else { fatalError("the task produced nothing") }
    return value
}

final class ResultBox<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}

/// Clients, signing keys and nothing else, in memory: what the parsers under test read.
public final class FuzzRepositories: ClientRepository, SigningKeyRepository, GrantRepository, ConsentRepository {
    let clients: [String: Client]
    let keys = Mutex<[SigningKeyRecord]>([])

    public init(clients: [Client]) {
        self.clients = Dictionary(uniqueKeysWithValues: clients.map { ($0.id, $0) })
    }

    public func client(id: String) async throws -> Client? { clients[id] }
    public func allClients() async throws -> [Client] { Array(clients.values) }
    public func insert(_ client: Client) async throws { unexpected() }
    public func updateSecret(clientID: String, digest: ClientSecretDigest) async throws -> Bool { unexpected() }
    public func updateKeys(clientID: String, jwks: String?, jwksURI: String?) async throws -> Bool { unexpected() }
    public func delete(clientID: String) async throws -> Bool { unexpected() }
    public func replaceRegisteredClient(_ client: Client, presented: [UInt8]) async throws -> Bool { unexpected() }
    public func deleteRegisteredClient(id: String, presented: [UInt8]) async throws -> Bool { unexpected() }
    public func saveMetadataDocumentClient(_ client: Client) async throws { unexpected() }

    public func allSigningKeys() async throws -> [SigningKeyRecord] { keys.withLock { $0 } }
    public func insert(_ key: SigningKeyRecord) async throws { keys.withLock { $0.append(key) } }
    public func retireSigningKey(kid: String, at date: Date) async throws -> Bool { unexpected() }

    // Validating a request must not write or read grants: reaching these is a finding.
    public func insert(grant: GrantRecord, code: AuthorizationCodeRecord) async throws { unexpected() }
    public func withLockedCode<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (AuthorizationCodeRecord?) throws -> GrantStep<T>
    ) async throws -> T { unexpected() }
    public func refreshToken(digest: [UInt8]) async throws -> RefreshTokenRecord? { unexpected() }
    public func withLockedRefreshToken<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (RefreshTokenRecord?) throws -> GrantStep<T>
    ) async throws -> T { unexpected() }
    public func revokeGrant(id: String, at now: Date) async throws { unexpected() }
    public func activeGrantEnd(id: String, at now: Date) async throws -> Date? { unexpected() }
    public func purgeExpired(before now: Date, limit: Int) async throws -> Int { unexpected() }
    public func userAndClaimsRequest(grantID: String) async throws -> (User, String?)? { unexpected() }
    public func consentedScope(userID: String, clientID: String) async throws -> Scope? { unexpected() }
    public func rememberConsent(userID: String, clientID: String, scope: Scope, at now: Date) async throws { unexpected() }

    private func unexpected(_ function: String = #function) -> Never {
        fatalError("\(function) must not be reached by the code under test")
    }
}

/// Spent JWT identifiers in memory; pushed requests and secrets are not for the parsers under test.
public final class FuzzProofs: ProofOfPossessionRepository {
    let spent = Mutex<Set<[UInt8]>>([])

    public init() {}

    public func spendJTI(digest: [UInt8], kind: UsedJTIKind, expiresAt: Date, now: Date) async throws -> Bool {
        spent.withLock { $0.insert(digest).inserted }
    }
    public func insertPushedRequest(_ request: PushedAuthorizationRequest) async throws { unexpected() }
    public func pushedRequest(digest: [UInt8], now: Date) async throws -> PushedAuthorizationRequest? { unexpected() }
    public func consumePushedRequest(digest: [UInt8]) async throws -> Bool { unexpected() }
    public func serverSecret(name: String, make: @Sendable () -> [UInt8]) async throws -> [UInt8] { unexpected() }
    public func purgeExpiredProofs(before now: Date, limit: Int) async throws -> Int { unexpected() }

    private func unexpected(_ function: String = #function) -> Never {
        fatalError("\(function) must not be reached by the code under test")
    }
}

/// A clock stopped at `date`: the seed inputs' `iat` and `exp` are about it.
public struct FuzzClock: WardenClock {
    public let date: Date
    public init(date: Date) { self.date = date }
    public func now() -> Date { date }
}
