import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

// Swift concurrency's tasks run on NIO's event loops, so a request's handler and its
// socket share a thread: no hop to another pool and back on every request (the
// hops cost more CPU than a token's signature). Must happen on the main thread,
// before any task starts. Slow work leaves the event loops: bcrypt runs on NIO's thread
// pool, SQLite reads on GRDB's queues, writes on the store's writer thread. One short
// read stays: the SQLite change check (`SQLiteStore+Changes`) runs synchronously on the
// calling loop, a `PRAGMA data_version` (plus a three-row table when something changed),
// which costs less than a hop to another thread and back.
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
let arguments = CommandLineArguments.hoisted(Array(CommandLine.arguments.dropFirst()))
if let hint = CommandLineArguments.suggestion(for: arguments, in: .init(Warden.self)) {
    FileHandle.standardError.write(Data("error: \(hint)\nSee 'warden --help'.\n".utf8))
    exit(ExitCode.validationFailure.rawValue)
}
// In an async closure the async `main` (which runs async commands) is the one chosen.
let run: () async -> Void = { await Warden.main(arguments) }
await run()
