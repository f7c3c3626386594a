import NIOCore
import Synchronization

/// The number of open connections, shared by every connection's `ConnectionLimitHandler`.
public final class ConnectionCounter: Sendable {
    /// Connections allowed open at once.
    public let maximum: Int
    private let open = Atomic(0)

    public init(maximum: Int) {
        self.maximum = maximum
    }

    /// Counts a new connection; false (counting nothing) when `maximum` are open.
    func admit() -> Bool {
        while true {
            let current = open.load(ordering: .relaxed)
            guard current < maximum else { return false }
            if open.compareExchange(expected: current, desired: current + 1, ordering: .relaxed).exchanged { return true }
        }
    }

    func release() {
        open.subtract(1, ordering: .relaxed)
    }
}

/// Closes a new connection at once when the server already holds `counter.maximum`
/// open, so that idle or slow connections cannot exhaust the process.
public final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny

    let counter: ConnectionCounter
    private var counted = false

    public init(counter: ConnectionCounter) {
        self.counter = counter
    }

    public func channelActive(context: ChannelHandlerContext) {
        guard counter.admit() else {
            context.close(promise: nil)
            return
        }
        counted = true
        context.fireChannelActive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        if counted { counter.release() }
        counted = false
    }
}
