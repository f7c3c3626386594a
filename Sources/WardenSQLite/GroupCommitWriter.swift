import Dispatch
import Foundation
import GRDB
import Metrics
import NIOCore
import NIOPosix
import Synchronization
import WardenCore
import WardenMigrations

/// Commits concurrent writes together (group commit). SQLite has one writer, and
/// with `synchronous = FULL` every commit waits for an fsync; one transaction per
/// request would cap rotations and redemptions near the fsync rate. Here every
/// write that arrives while a commit is in progress joins the next batch, which
/// runs in one transaction and pays one fsync.
///
/// Each write runs in its own savepoint, in arrival order, so it stays all or
/// nothing, sees the writes before it (a conditional `UPDATE` still has exactly
/// one winner), and a failing write rolls back alone. A caller hears of success
/// only after the batch is committed, on the event loop it was waiting on (see `Job.loop`).
///
/// Batches run on a thread of their own, one after another, with GRDB's synchronous
/// API: under load this thread is the bottleneck, and an asynchronous hand-off to
/// GRDB's queue and back cost about a third of a millisecond per batch, a tenth of
/// the batch.
final class GroupCommitWriter: Sendable {
    private struct Job: Sendable {
        let run: @Sendable (Database) throws -> Void
        let finish: @Sendable ((any Error)?) -> Void
        /// The event loop the caller was on. It is resumed there: resumed anywhere else, it
        /// would answer from another thread and hop back to its connection's loop, and every
        /// caller would wake the loop separately.
        let loop: (any EventLoop)?
    }

    private struct State: Sendable {
        var pending: [Job] = []
        /// The writer thread waits on `wakeUp` and must be signalled.
        var idle = false
        var stopping = false
    }

    /// Where a job leaves its result for its caller.
    private final class ResultBox<T: Sendable>: Sendable {
        let value = Mutex<T?>(nil)
    }

    private let pool: DatabasePool
    private let commitDuration = Metrics.Timer(label: "warden_database_commit_duration_seconds")
    private let batchSize = Recorder(label: "warden_database_commit_batch_size", aggregate: true)
    private let state = Mutex(State())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)

    init(pool: DatabasePool) {
        self.pool = pool
        Thread.detachNewThread { [self] in
            Thread.current.name = "warden-writer"
            run()
        }
    }

    /// Runs `body` in the next batch and returns its result once the batch is durable.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let box = ResultBox<T>()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let job = Job(
                run: { db in
                    let value = try body(db)
                    box.value.withLock { $0 = value }
                },
                finish: { error in
                    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                },
                loop: MultiThreadedEventLoopGroup.currentEventLoop)
            let accepted = state.withLock { state in
                guard !state.stopping else { return false }
                state.pending.append(job)
                return true
            }
            guard accepted else { return continuation.resume(throwing: StoreError(description: "the database is closed")) }
            signalIfIdle()
        }
        guard let value = box.value.withLock({ $0 }) else { throw StoreError(description: "a committed write left no result") }
        return value
    }

    /// Finishes the writes already queued, then ends the writer thread; with `waiting`,
    /// returns only once it has ended.
    func stop(waiting: Bool = true) {
        let wasStopping = state.withLock { state in
            defer { state.stopping = true }
            return state.stopping
        }
        guard !wasStopping else { return }
        signalIfIdle()
        if waiting { stopped.wait() }
    }

    private func signalIfIdle() {
        let wasIdle = state.withLock { state in
            defer { state.idle = false }
            return state.idle
        }
        if wasIdle { wakeUp.signal() }
    }

    /// The writer thread: commits batches, and sleeps while none is waiting.
    private func run() {
        while true {
            let (jobs, stopping) = state.withLock { state in
                let jobs = state.pending
                state.pending.removeAll(keepingCapacity: true)
                if jobs.isEmpty && !state.stopping { state.idle = true }
                return (jobs, state.stopping)
            }
            if jobs.isEmpty {
                if stopping {
                    stopped.signal()
                    return
                }
                wakeUp.wait()
                continue
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let outcomes = commit(jobs)
            commitDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
            batchSize.record(jobs.count)
            Self.finish(jobs, outcomes)
        }
    }

    /// Runs `jobs` in one transaction, each in a savepoint; one outcome per job.
    private func commit(_ jobs: [Job]) -> [(any Error)?] {
        do {
            return try pool.writeWithoutTransaction { db in
                var outcomes: [(any Error)?] = []
                // Prepared once per connection: GRDB's inSavepoint compiles them for every job.
                let savepoint = try db.cachedStatement(sql: "SAVEPOINT job")
                let release = try db.cachedStatement(sql: "RELEASE SAVEPOINT job")
                let rollback = try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT job")
                try db.inTransaction(.immediate) {
                    for job in jobs {
                        try savepoint.execute()
                        do {
                            try job.run(db)
                            try release.execute()
                            outcomes.append(nil)
                        } catch {
                            try rollback.execute()
                            try release.execute()
                            outcomes.append(error)
                        }
                    }
                    return .commit
                }
                return outcomes
            }
        } catch {
            // The commit failed: nothing of the batch is stored.
            return Array(repeating: error, count: jobs.count)
        }
    }

    /// Resumes each caller with its outcome: those waiting on an event loop on that loop,
    /// with one wake-up per loop for the whole batch.
    private static func finish(_ jobs: [Job], _ outcomes: [(any Error)?]) {
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, jobs: [(Job, (any Error)?)])] = [:]
        for (job, outcome) in zip(jobs, outcomes) {
            guard let loop = job.loop else {
                job.finish(outcome)
                continue
            }
            byLoop[ObjectIdentifier(loop), default: (loop, [])].jobs.append((job, outcome))
        }
        for (loop, finished) in byLoop.values {
            loop.execute { for (job, outcome) in finished { job.finish(outcome) } }
        }
    }
}
