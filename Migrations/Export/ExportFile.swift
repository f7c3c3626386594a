import Foundation
import Synchronization

/// The export file: JSON Lines. A header line, one line per row
/// (`{"table": "clients", "row": [...]}` with bytes in base64), and a trailer with
/// the row count, so that a truncated file is refused rather than half imported.
public enum ExportFile {
    static let format = "warden-export"
    static let version = 1

    /// Writes every row of `source` to `path`; returns how many rows.
    public static func write(from source: any RowCopying, to path: String) async throws -> Int {
        // Secrets' digests and encrypted keys: readable by this user only, from the start.
        try? FileManager.default.removeItem(atPath: path)
        do { try PrivateFiles.create(path) } catch { throw ExportError("cannot write \(path)") }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw ExportError("cannot write \(path)") }
        defer { try? handle.close() }
        try handle.write(contentsOf: try line(["format": format, "version": version]))
        var count = 0
        for table in ExportSchema.tables {
            let lines = LockedLines()
            try await source.exportRows(of: table) { values in
                lines.append(try line(["table": table.name, "row": values.map(json)]))
            }
            for data in lines.take() {
                try handle.write(contentsOf: data)
                count += 1
            }
        }
        try handle.write(contentsOf: try line(["end": ["rows": count]]))
        try handle.synchronize()
        return count
    }

    /// Reads the rows of the export at `path`, checking every value against the schema.
    public static func read(_ path: String) throws -> [ExportRow] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ExportError("cannot read \(path)") }
        var lines = data.split(separator: UInt8(ascii: "\n"))
        guard let first = lines.first, let header = try? object(first), header["format"] as? String == format,
            header["version"] as? Int == version
        else { throw ExportError("\(path) is not a Warden export (version \(version))") }
        guard let last = lines.last, let trailer = try? object(last), let end = trailer["end"] as? [String: Any],
            let expected = end["rows"] as? Int
        else { throw ExportError("\(path) is truncated: it has no end line") }
        lines = Array(lines.dropFirst().dropLast())
        guard lines.count == expected else { throw ExportError("\(path) holds \(lines.count) rows, its end line says \(expected)") }
        return try lines.enumerated().map { index, line in
            let number = index + 2
            guard let object = try? object(line), let name = object["table"] as? String, let row = object["row"] as? [Any],
                let table = ExportSchema.table(named: name), row.count == table.columns.count
            else { throw ExportError("\(path) line \(number): not a row of a known table") }
            let values = try zip(table.columns, row).map { column, value in
                guard let value = Self.value(value, kind: column.kind) else {
                    throw ExportError("\(path) line \(number): \(name).\(column.name) is not a \(column.kind)")
                }
                return value
            }
            return ExportRow(table: table, values: values)
        }
    }

    private static func line(_ object: [String: Any]) throws -> Data {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        return data
    }

    private static func object(_ line: Data.SubSequence) throws -> [String: Any]? {
        try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
    }

    private static func json(_ value: ExportValue) -> Any {
        switch value {
        case .null: NSNull()
        case .text(let text): text
        case .integer(let number): NSNumber(value: number)
        case .boolean(let flag): flag
        case .bytes(let bytes): Data(bytes).base64EncodedString()
        }
    }

    private static func value(_ json: Any, kind: ExportColumn.Kind) -> ExportValue? {
        if json is NSNull { return .null }
        switch kind {
        case .text: return (json as? String).map(ExportValue.text)
        case .integer: return (json as? NSNumber).map { .integer($0.int64Value) }
        case .boolean: return (json as? Bool).map(ExportValue.boolean)
        case .bytes: return (json as? String).flatMap { Data(base64Encoded: $0) }.map { .bytes(Array($0)) }
        }
    }
}

/// Lines collected by a store's row callback, then written in order.
private final class LockedLines: Sendable {
    private let lines = Mutex<[Data]>([])
    func append(_ line: Data) { lines.withLock { $0.append(line) } }
    func take() -> [Data] { lines.withLock { $0 } }
}

/// An export or import that cannot go on, in one line for the operator.
public struct ExportError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
