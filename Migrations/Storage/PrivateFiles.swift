import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Files and directories only the server's user may read (SECURITY.md: the database,
/// its directory, key files and demo credentials are 0600 / 0700), made so from the
/// start: created with those modes, never created open and narrowed afterwards.
public enum PrivateFiles {
    /// Creates `directory` and any missing parents with mode 0700; an existing one is left as it is.
    public static func createDirectory(_ directory: URL) throws {
        var missing: [URL] = []
        var current = directory.standardizedFileURL
        while !FileManager.default.fileExists(atPath: current.path), current.path != "/" {
            missing.append(current)
            current = current.deletingLastPathComponent()
        }
        for url in missing.reversed() where mkdir(url.path, 0o700) != 0 && errno != EEXIST {
            throw StoreError(description: "cannot create the directory \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Creates `path` with mode 0600 holding `contents`; fails if it exists.
    public static func create(_ path: String, contents: Data = Data()) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StoreError(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: contents)
        try handle.synchronize()
    }

    /// Makes sure `path` exists, creating it empty with mode 0600 if not.
    public static func ensure(_ path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StoreError(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        close(descriptor)
    }
}
