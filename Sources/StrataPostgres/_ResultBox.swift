import CLibPQ

/// Owns one `PGresult` and frees it (`PQclear`) when the last row referring to it is gone.
///
/// A `PGresult` is read-only once libpq hands it out, and libpq documents that it can be
/// passed between threads freely; nothing here mutates it, hence `@unchecked Sendable`.
final class _ResultBox: @unchecked Sendable {
    let pointer: OpaquePointer
    let columns: [PostgresColumn]
    let columnIndexByName: [String: Int]
    let rowCount: Int
    let affectedRows: Int
    let commandTag: String

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
        let columnCount = Int(PQnfields(pointer))
        var columns: [PostgresColumn] = []
        columns.reserveCapacity(columnCount)
        var byName: [String: Int] = [:]
        for index in 0..<columnCount {
            let name = PQfname(pointer, Int32(index)).map { String(cString: $0) } ?? ""
            let type = PostgresDataType(PQftype(pointer, Int32(index)))
            columns.append(PostgresColumn(name: name, index: index, dataType: type))
            if byName[name] == nil { byName[name] = index }
        }
        self.columns = columns
        self.columnIndexByName = byName
        self.rowCount = Int(PQntuples(pointer))
        self.affectedRows = PQcmdTuples(pointer).map { Int(String(cString: $0)) ?? 0 } ?? 0
        self.commandTag = PQcmdStatus(pointer).map { String(cString: $0) } ?? ""
    }

    deinit { PQclear(pointer) }

    func text(row: Int, column: Int) -> String? {
        let r = Int32(row), c = Int32(column)
        if PQgetisnull(pointer, r, c) != 0 { return nil }
        guard let value = PQgetvalue(pointer, r, c) else { return nil }
        let length = Int(PQgetlength(pointer, r, c))
        return value.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }
}
