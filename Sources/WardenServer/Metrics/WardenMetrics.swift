import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// Prometheus metrics (OPERATIONS.md): swift-metrics' process-wide backend, a
/// swift-prometheus registry, and the separate listener that serves it. The series are
/// made under their documented names where they are counted.
public struct WardenMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    /// Makes the registry the backend of swift-metrics; once per process, before any
    /// metric is made (one made earlier records nothing).
    public static func bootstrap() -> WardenMetrics {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Warden answers in well under the defaults' first bucket (5 ms).
        let fast: [Duration] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10].map { .seconds($0) }
        factory.durationHistogramBuckets = [
            "warden_http_request_duration_seconds": fast, "warden_database_commit_duration_seconds": fast,
        ]
        factory.valueHistogramBuckets = ["warden_database_commit_batch_size": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]]
        MetricsSystem.bootstrap(factory)
        Gauge(label: "warden_build_info", dimensions: [("version", WardenVersion.current)]).record(1)
        // Present at zero from the start, so that an alert on their increase sees the first one.
        for label in ["warden_refresh_token_reuse_detected_total", "warden_code_reuse_detected_total"] { _ = Counter(label: label) }
        return WardenMetrics(registry: registry)
    }

    /// Fails, naming `address`, when it cannot be listened on (in use, not this machine's,
    /// no such host): checked before the public port opens, so that a bad address ends
    /// startup instead of leaving a server half started.
    public static func checkListenable(_ address: ListenAddress) async throws {
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: address.host, port: address.port).get()
            try await channel.close()
        } catch {
            let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
            throw ConfigurationError("cannot serve metrics on \(address): \(reason)")
        }
    }

    /// The listener of `GET /metrics` (Prometheus text format 0.0.4) on `address`.
    func listener(address: ListenAddress, logger: Logger) -> some Service {
        let router = Router()
        router.get("/metrics") { [registry] _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        return Application(
            router: router, configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                logger.info("Metrics listening on http://\(ListenAddress(host: address.host, port: port))/metrics")
            },
            logger: logger)
    }
}
