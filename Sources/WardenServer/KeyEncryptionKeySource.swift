import Foundation
import WardenMigrations
import WardenTokens

/// Finds the key-encryption key: a file from the flag, else `WARDEN_KEY_ENCRYPTION_KEY`,
/// else the config's `key_encryption_key_file`.
public enum KeyEncryptionKeySource {
    /// The key, or nil when none is configured anywhere.
    public static func resolve(flagFile: String?, environment: [String: String], configuration: WardenConfiguration) throws -> KeyEncryptionKey? {
        if let file = flagFile { return try read(file: file) }
        if let text = environment["WARDEN_KEY_ENCRYPTION_KEY"], !text.isEmpty {
            do { return try KeyEncryptionKey(base64: text) } catch {
                throw ConfigurationError("WARDEN_KEY_ENCRYPTION_KEY: \(error.description)")
            }
        }
        if let file = configuration.keyEncryptionKeyFile { return try read(file: file) }
        return nil
    }

    /// Reads a key file.
    public static func read(file: String) throws -> KeyEncryptionKey {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigurationError("key-encryption key file \(file): cannot be read")
        }
        do { return try KeyEncryptionKey(base64: String(decoding: data, as: UTF8.self)) } catch {
            throw ConfigurationError("key-encryption key file \(file): \(error.description)")
        }
    }

    /// For `--demo` only: the key in `warden.kek` in `directory` (beside the database), generated
    /// if missing. Returns the key and whether it was generated now.
    public static func demoKey(directory: URL) throws -> (key: KeyEncryptionKey, path: String, generated: Bool) {
        if let existing = try existingDemoKey(directory: directory) { return (existing.key, existing.path, false) }
        let path = demoKeyPath(directory)
        try PrivateFiles.createDirectory(directory)
        let (key, text) = KeyEncryptionKey.generate()
        do { try PrivateFiles.create(path, contents: Data((text + "\n").utf8)) } catch {
            throw ConfigurationError("cannot write the demo key-encryption key: \(error)")
        }
        return (key, path, true)
    }

    /// The key `serve --demo` left in `directory`, if there is one.
    public static func existingDemoKey(directory: URL) throws -> (key: KeyEncryptionKey, path: String)? {
        let path = demoKeyPath(directory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return (try read(file: path), path)
    }

    static func demoKeyPath(_ directory: URL) -> String { directory.appendingPathComponent("warden.kek").path }
}
