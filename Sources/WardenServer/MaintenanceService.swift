import Foundation
import Logging
import ServiceLifecycle
import WardenCore
import WardenTokens

/// A background task of the running server: every quarter second it loads the signing
/// keys again if any changed; every couple of seconds it reloads them anyway (a staged
/// key's time may have come), retires superseded keys whose tokens have expired,
/// rotates when automatic rotation is due, logs the CLI's security events (`AuditLog`)
/// and its own, and purges expired revocations, grants,
/// codes, refresh tokens and sessions in small batches, and sweeps the in-memory rate
/// limiters of keys whose attempts have aged out.
struct MaintenanceService: Service {
    let store: any Storage
    let keys: KeyRingRefresher
    let manager: SigningKeyManager
    let limiters: [FailureRateLimiter]
    let configuration: WardenConfiguration
    let interval: Duration
    let logger: Logger

    /// How often the signing-key counter is checked between ticks, so that a key added or
    /// retired by the CLI or another instance is loaded within this long.
    static let keyCheckInterval = Duration.milliseconds(250)

    func run() async throws {
        var nextTick = ContinuousClock.now
        while !Task.isShuttingDownGracefully {
            if ContinuousClock.now >= nextTick {
                await tick()
                nextTick = ContinuousClock.now + interval
            } else {
                do { try await keys.reloadIfChanged() } catch where !Self.isShutdown(error) {
                    logger.error("key reload failed", metadata: ["error": "\(error)"])
                } catch {}
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.keyCheckInterval) }
            } catch {
                return
            }
        }
    }

    func tick() async {
        for limiter in limiters { limiter.sweep(now: Date()) }
        do {
            let (retired, rotated) = try await manager.maintain(
                tokenLifetime: TimeInterval(max(configuration.accessTokenLifetime, configuration.idTokenLifetime)),
                rotationInterval: configuration.keyRotationIntervalDays.map { TimeInterval($0) * 86_400 },
                algorithms: configuration.requiredSigningAlgorithms, leadTime: TimeInterval(configuration.keyRotationLeadTime))
            for kid in retired { logSecurityEvent("key_retired", ["kid": kid], source: "maintenance") }
            for key in rotated { logSecurityEvent("key_rotated", ["kid": key.kid, "algorithm": key.algorithm.rawValue], source: "maintenance") }
            for event in try await store.takeAuditEvents(limit: 100) { logSecurityEvent(event.name, event.fields, source: "cli") }
            try await keys.reload()
            try await purgeExpiredData(store, now: Date())
        } catch where !Self.isShutdown(error) {
            logger.error("maintenance failed", metadata: ["error": "\(error)"])
        } catch {}
    }

    /// A security event of no request (OPERATIONS.md), on a line like the requests' events:
    /// `source` says whose it was, the CLI's or the server's own maintenance.
    func logSecurityEvent(_ name: String, _ fields: [String: String], source: String) {
        var metadata: Logger.Metadata = ["event": "\(name)", "source": "\(source)"]
        for (key, value) in fields { metadata[key] = "\(value)" }
        logger.notice("security event", metadata: metadata)
    }

    /// Work cut short because the server is stopping (or never started: a busy port) is no failure to report.
    static func isShutdown(_ error: any Error) -> Bool {
        error is CancellationError || Task.isCancelled
    }
}

/// Deletes one batch of everything expired (revocations, grants with their codes and
/// refresh tokens, idle refresh tokens, sessions); returns how many rows went. Small
/// batches bound the work and the write lock of each call.
@discardableResult
public func purgeExpiredData(_ store: any Storage, now: Date, batch: Int = 500) async throws -> Int {
    try await store.purgeRevocations(expiredBefore: now, limit: batch) + store.purgeExpired(before: now, limit: batch)
        + store.purgeExpiredProofs(before: now, limit: batch)
}
