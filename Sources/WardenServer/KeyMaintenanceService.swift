import Foundation
import Logging
import ServiceLifecycle
import WardenCore
import WardenStore
import WardenTokens

/// A background task of the running server: every couple of seconds it reloads the
/// signing keys (so CLI rotations reach it well within 5 s), retires superseded keys
/// whose tokens have expired, rotates when automatic rotation is due, and purges
/// revocations of expired tokens in small batches.
struct KeyMaintenanceService: Service {
    let store: SQLiteStore
    let keyRing: KeyRing
    let manager: SigningKeyManager
    let configuration: WardenConfiguration
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            await tick()
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    func tick() async {
        do {
            let retired = try await manager.maintain(
                tokenLifetime: TimeInterval(configuration.accessTokenLifetime),
                rotationInterval: configuration.keyRotationIntervalDays.map { TimeInterval($0) * 86_400 },
                algorithm: configuration.signingAlgorithm, leadTime: TimeInterval(configuration.keyRotationLeadTime))
            for kid in retired { logger.info("signing key retired", metadata: ["kid": "\(kid)"]) }
            try await keyRing.load(try await store.allSigningKeys(), now: Date())
            _ = try await store.purgeRevocations(expiredBefore: Date(), limit: 500)
        } catch {
            logger.error("key maintenance failed", metadata: ["error": "\(error)"])
        }
    }
}
