import Foundation
import GRDB
import WardenMigrations

extension SQLiteStore: RowCopying {
    public func exportRows(of table: ExportTable, into body: @escaping @Sendable ([ExportValue]) throws -> Void) async throws {
        let order = table.key.isEmpty ? "rowid" : table.key.joined(separator: ", ")
        try await read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT \(table.columnList) FROM \(table.name) ORDER BY \(order)")
            while let row = try rows.next() {
                try body(table.columns.indices.map { index in Self.exportValue(row[index], kind: table.columns[index].kind) })
            }
        }
    }

    public func exportedRowCount() async throws -> Int {
        try await read { db in
            try ExportSchema.tables.reduce(0) { count, table in
                count + (try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.name)") ?? 0)
            }
        }
    }

    public func importRows(_ rows: [ExportRow]) async throws {
        try await write { db in
            for row in rows {
                let marks = Array(repeating: "?", count: row.values.count).joined(separator: ", ")
                try db.executeCached(
                    sql: "INSERT INTO \(row.table.name) (\(row.table.columnList)) VALUES (\(marks))",
                    arguments: StatementArguments(row.values.map(Self.databaseValue)))
            }
        }
    }

    static func exportValue(_ value: DatabaseValue, kind: ExportColumn.Kind) -> ExportValue {
        switch (value.storage, kind) {
        case (.null, _): .null
        case (.string(let text), _): .text(text)
        case (.int64(let number), .boolean): .boolean(number != 0)
        case (.int64(let number), _): .integer(number)
        case (.double(let number), _): .integer(Int64(number))
        case (.blob(let data), _): .bytes(Array(data))
        }
    }

    static func databaseValue(_ value: ExportValue) -> DatabaseValue {
        switch value {
        case .null: .null
        case .text(let text): text.databaseValue
        case .integer(let number): number.databaseValue
        case .boolean(let flag): (flag ? 1 : 0).databaseValue
        case .bytes(let bytes): Data(bytes).databaseValue
        }
    }
}
