import HummingbirdBcrypt
import NIOPosix
import WardenCore

/// bcrypt (cost 12, SECURITY.md) on NIO's thread pool: a hash takes a quarter of a
/// second, and done inline on an event loop it stalls every other request.
public struct BcryptPasswordHasher: PasswordHasher {
    public static let cost: UInt8 = 12

    public init() {}

    public func hash(_ password: String) async throws -> String {
        try await withChildSpan("password hashing") {
            try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: Self.cost) }
        }
    }

    public func verify(_ password: String, hash: String) async -> Bool {
        await withChildSpan("password hashing") {
            (try? await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }) ?? false
        }
    }
}
