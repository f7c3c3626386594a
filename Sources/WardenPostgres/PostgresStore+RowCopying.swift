import Foundation
import PostgresNIO
import WardenMigrations

extension PostgresStore: RowCopying {
    public func exportRows(of table: ExportTable, into body: @escaping @Sendable ([ExportValue]) throws -> Void) async throws {
        let order = table.key.isEmpty ? "position" : table.key.joined(separator: ", ")
        let rows = try await query(PostgresQuery(unsafeSQL: "SELECT \(table.columnList) FROM \(table.name) ORDER BY \(order)"))
        for try await row in rows {
            let cells = row.makeRandomAccess()
            try body(try table.columns.indices.map { try Self.exportValue(cells[$0], kind: table.columns[$0].kind) })
        }
    }

    public func exportedRowCount() async throws -> Int {
        var count = 0
        for table in ExportSchema.tables {
            for try await rows in try await query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table.name)")).decode(Int64.self) {
                count += Int(rows)
            }
        }
        return count
    }

    /// Many rows per INSERT: a round trip per row would make a large import slow. One
    /// transaction however long it takes: an import of a large installation may take minutes.
    public func importRows(_ rows: [ExportRow]) async throws {
        try await transaction(bounded: false) { [self] connection in
            var start = rows.startIndex
            while start < rows.endIndex {
                let table = rows[start].table
                var end = start
                while end < rows.endIndex, end - start < 500, rows[end].table.name == table.name { end += 1 }
                var bindings = PostgresBindings(capacity: (end - start) * table.columns.count)
                var tuples: [String] = []
                for row in rows[start..<end] {
                    var marks: [String] = []
                    for value in row.values {
                        try Self.bind(value, to: &bindings)
                        marks.append("$\(bindings.count)")
                    }
                    tuples.append("(\(marks.joined(separator: ", ")))")
                }
                let sql = "INSERT INTO \(table.name) (\(table.columnList)) VALUES \(tuples.joined(separator: ", "))"
                try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
                start = end
            }
        }
    }

    static func exportValue(_ cell: PostgresCell, kind: ExportColumn.Kind) throws -> ExportValue {
        switch kind {
        case .text: try cell.decode(String?.self).map(ExportValue.text) ?? .null
        case .integer: try cell.decode(Int64?.self).map(ExportValue.integer) ?? .null
        case .boolean: try cell.decode(Bool?.self).map(ExportValue.boolean) ?? .null
        case .bytes: try cell.decode(ByteBuffer?.self).map { .bytes(Array($0.readableBytesView)) } ?? .null
        }
    }

    static func bind(_ value: ExportValue, to bindings: inout PostgresBindings) throws {
        switch value {
        case .null: bindings.appendNull()
        case .text(let text): bindings.append(text)
        case .integer(let number): bindings.append(number)
        case .boolean(let flag): bindings.append(flag)
        case .bytes(let bytes): bindings.append(ByteBuffer(bytes: bytes))
        }
    }
}
