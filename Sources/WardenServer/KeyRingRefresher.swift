import Foundation
import Synchronization
import WardenCore
import WardenTokens

/// Keeps the key ring in step with the stored keys, which the CLI or another instance
/// may change: it reloads when the store's signing-key counter moves, and before it
/// gives up on a token signed with a key this instance has not loaded yet, so a token
/// minted by one instance right after `keys rotate --now` verifies at every other.
///
/// For ID and logout tokens it also makes the key a client's algorithm needs: a client
/// registered for an algorithm no key has yet gets one the first time it is needed.
final class KeyRingRefresher: AccessTokenVerifier, OpenIDTokenSigner {
    let store: any Storage
    let keyRing: KeyRing
    let manager: SigningKeyManager?
    private let loadedGeneration = Mutex<Int64?>(nil)

    init(store: any Storage, keyRing: KeyRing, manager: SigningKeyManager? = nil) {
        self.store = store
        self.keyRing = keyRing
        self.manager = manager
    }

    /// Loads every key again; also needed when no key changed but a staged key's
    /// activation time has passed, which changes the signer.
    func reload() async throws {
        try await load(generation: try await store.currentGenerations().signingKeys)
    }

    /// Reloads only if a key was added, retired or removed since the last load; true if it did.
    @discardableResult
    func reloadIfChanged() async throws -> Bool {
        let generation = try await store.currentGenerations().signingKeys
        guard loadedGeneration.withLock({ $0 }) != generation else { return false }
        try await load(generation: generation)
        return true
    }

    /// Loads the stored keys, read after `generation` was: a change in between leaves the
    /// ring newer than the generation it records, so the next check loads again, never less.
    private func load(generation: Int64) async throws {
        let keys = try await store.allSigningKeys()
        let now = Date()
        try await keyRing.load(keys, now: now)
        loadedGeneration.withLock { $0 = generation }
        SigningKeyMetrics.record(keys, now: now)
    }

    func verify(_ token: String) async -> AccessTokenClaims? {
        // A request that already read the counters (introspection) verifies with the keys
        // as they were then at least: a key retired before it began verifies nothing, on
        // every instance, from the moment `keys retire` returns.
        if let generation = ChangeGenerations.current?.signingKeys, loadedGeneration.withLock({ $0 }) != generation {
            guard (try? await load(generation: generation)) != nil else { return nil }
        }
        return await reloadingForAnUnknownKey(token) { await $0.verify(token) }
    }

    /// `read` of `token`; if that fails because the token's key is not loaded, again after
    /// loading the stored keys, should they have changed.
    private func reloadingForAnUnknownKey<T>(_ token: String, _ read: (KeyRing) async -> T?) async -> T? {
        if let value = await read(keyRing) { return value }
        guard !keyRing.hasKey(for: token), (try? await reloadIfChanged()) == true else { return nil }
        return await read(keyRing)
    }

    func signIDToken(_ claims: IDTokenClaims, algorithm: SigningAlgorithm) async throws -> String {
        try await ensureSigner(algorithm)
        return try await keyRing.signIDToken(claims, algorithm: algorithm)
    }

    func signLogoutToken(_ claims: LogoutTokenClaims, algorithm: SigningAlgorithm) async throws -> String {
        try await ensureSigner(algorithm)
        return try await keyRing.signLogoutToken(claims, algorithm: algorithm)
    }

    func verifyIDTokenHint(_ token: String) async -> IDTokenHint? {
        await reloadingForAnUnknownKey(token) { await $0.verifyIDTokenHint(token) }
    }

    /// Loads a key of `algorithm` that can sign, making one if none exists (another
    /// instance or the CLI may have made it already: reload first).
    private func ensureSigner(_ algorithm: SigningAlgorithm) async throws {
        guard keyRing.signerKID(for: algorithm) == nil else { return }
        try await reloadIfChanged()
        guard keyRing.signerKID(for: algorithm) == nil, let manager else { return }
        try await manager.ensureSigningKey(algorithm: algorithm)
        try await reload()
    }
}
