import Foundation
import Logging
import Synchronization
import WardenCore

/// `log_format: json` (OPERATIONS.md): one JSON object per line on standard output,
/// `timestamp` (RFC 3339, UTC, milliseconds), `level`, `message`, then the metadata as
/// fields, for log pipelines (Loki, Elasticsearch, a SIEM) to read without parsing text.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    /// Lines from concurrent tasks never interleave.
    private static let output = Mutex(FileHandle.standardOutput)

    public init(level: Logger.Level) {
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var writer = JSONObjectWriter(capacity: 256)
        writer.add("timestamp", Self.timestamp(Date()))
        writer.add("level", event.level.rawValue)
        writer.add("message", event.message.description)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where !["timestamp", "level", "message"].contains(key) {
            writer.add(name: key, "\(value)")
        }
        let line = Data(writer.finish() + [UInt8(ascii: "\n")])
        Self.output.withLock { $0.write(line) }
    }

    /// `2026-12-04T18:42:07.125Z`
    static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    static func timestamp(_ date: Date) -> String { date.formatted(timestampStyle) }
}
