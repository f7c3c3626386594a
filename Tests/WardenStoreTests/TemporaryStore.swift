import Foundation
import WardenStore

/// A store on a fresh SQLite file in a temporary directory, removed afterwards.
func withTemporaryStore<T>(_ body: (SQLiteStore, String) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-store-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("warden.sqlite").path
    let store = try SQLiteStore(path: path)
    defer { try? store.close() }
    return try await body(store, path)
}
