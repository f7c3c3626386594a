import Logging
import OTel
import ServiceLifecycle
import Tracing

/// OpenTelemetry tracing (OPERATIONS.md), with swift-otel's OTLP/HTTP exporter: off
/// unless `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set
/// (and `OTEL_SDK_DISABLED` is not `true`); every other `OTEL_*` variable swift-otel
/// reads (protocol, sampler, service name, resource attributes, batch sizes) applies.
///
/// Spans are batched and exported in the background; when the collector is slow or
/// gone, the batch processor's bounded queue drops them, so requests never wait on it.
public enum WardenTracing {
    /// Whether `environment` asks for traces.
    public static func isRequested(by environment: [String: String]) -> Bool {
        guard environment["OTEL_SDK_DISABLED"]?.lowercased() != "true" else { return false }
        return ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains { environment[$0]?.isEmpty == false }
    }

    /// Makes swift-otel's tracer the process's (once, before any span) and returns the
    /// service that exports its spans: run it beside the server.
    public static func bootstrap(logger: Logger) throws -> any Service {
        var configuration = OTel.Configuration.default
        configuration.serviceName = "warden"  // OTEL_SERVICE_NAME still wins
        configuration.metrics.enabled = false  // metrics are Prometheus's (metrics_address)
        configuration.logs.enabled = false  // logs stay on standard output
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        // Shorter than the specification's 10 s and 30 s (the variables still win): at shutdown
        // the last batch is flushed within these, so a dead collector delays a stop by seconds, not tens.
        configuration.traces.otlpExporter.timeout = .seconds(2)
        configuration.traces.batchSpanProcessor.exportTimeout = .seconds(3)
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        return backend.service
    }

    /// Adds the current span's `trace_id` and `span_id` to every log line.
    public static var logMetadataProvider: Logger.MetadataProvider { OTel.makeLoggingMetadataProvider() }
}
