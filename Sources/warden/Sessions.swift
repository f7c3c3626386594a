import ArgumentParser
import Foundation
import WardenCore
import WardenServer

/// `warden sessions ...`
struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and end browser sessions (ending one tells its applications by back-channel logout).",
        subcommands: [List.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List live sessions.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this user's sessions.") var username: String?
        @Flag(help: "Print a JSON array.") var json = false

        struct Description: Encodable {
            var sid: String
            var user_id: String
            var username: String
            var authenticated_at: Int
            var expires_at: Int
        }

        func run() async throws {
            let sessions = try await global.withStore { store, _ in
                try await store.sessionSummaries(userID: try await Sessions.userID(username, in: store), at: Date())
            }
            let descriptions = sessions.map {
                Description(
                    sid: $0.sid, user_id: $0.userID, username: $0.username, authenticated_at: Int($0.authenticatedAt.timeIntervalSince1970),
                    expires_at: Int($0.expiresAt.timeIntervalSince1970))
            }
            if json { return ClientOutput.printJSON(descriptions) }
            let format = ISO8601DateFormatter()
            for session in sessions {
                print("\(session.sid)  \(session.username)  signed in \(format.string(from: session.authenticatedAt))")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a session by its sid, or every session of a user.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The session's sid (see sessions list).") var sid: String?
        @Option(help: "End every session of this user.") var username: String?

        func run() async throws {
            let ended = try await global.withStore { store, _ in
                switch (sid, username) {
                case (let sid?, nil):
                    guard try await store.endSessions(.sid(sid), at: Date()) == 1 else { throw ConfigurationError("no session \(sid)") }
                    try await store.audit("session_ended", ["sid": sid])
                    return 1
                case (nil, let username?):
                    guard let id = try await Sessions.userID(username, in: store) else { throw ConfigurationError("no user \(username)") }
                    let ended = try await store.endSessions(.user(id: id), at: Date())
                    try await store.audit("session_ended", ["username": username, "sub": id, "sessions": "\(ended)"])
                    return ended
                default:
                    throw ConfigurationError("give a session's sid or --username, not both")
                }
            }
            print("ended \(ended) session\(ended == 1 ? "" : "s"); their applications are told by back-channel logout")
        }
    }

    /// The id of `username`, when given; an unknown user is the operator's error.
    static func userID(_ username: String?, in store: any WardenStorage) async throws -> String? {
        guard let username else { return nil }
        guard let user = try await store.user(username: username) else { throw ConfigurationError("no user \(username)") }
        return user.id
    }
}
