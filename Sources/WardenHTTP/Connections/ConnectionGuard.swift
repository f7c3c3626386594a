import NIOCore
import NIOHTTPTypes
import Synchronization

/// The number of open connections, shared by every connection's `ConnectionGuard`.
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

/// Two limits on a connection, in one handler (each handler in the pipeline costs every
/// request a hop): past `counter.maximum` open connections a new one is closed at once,
/// and a request must arrive whole, headers and body, within `timeout` of the
/// connection's start or of the previous request's end. An idle timeout alone restarts on
/// every byte: a body sent a byte every 29 s would hold the connection for weeks.
///
/// A request costs one clock read: the deadline moves, and the connection's one timer,
/// when it fires, closes the connection or waits for the deadline then in force.
public final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart

    let counter: ConnectionCounter
    let timeout: TimeAmount
    private var counted = false
    /// When the request being received must be complete.
    private var deadline = NIODeadline.distantFuture
    private var timer: Scheduled<Void>?

    public init(counter: ConnectionCounter, requestTimeout: TimeAmount) {
        self.counter = counter
        self.timeout = requestTimeout
    }

    public func channelActive(context: ChannelHandlerContext) {
        guard counter.admit() else {
            context.close(promise: nil)
            return
        }
        counted = true
        deadline = .now() + timeout
        schedule(context, at: deadline)
        context.fireChannelActive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        if counted { counter.release() }
        counted = false
        timer?.cancel()
        timer = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A request has arrived whole: the next one's time starts now (its response
        // is written meanwhile, well within the timeout).
        if case .end = unwrapInboundIn(data) { deadline = .now() + timeout }
        context.fireChannelRead(data)
    }

    private func schedule(_ context: ChannelHandlerContext, at time: NIODeadline) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: time) {
            let (handler, context) = bound.value
            if handler.deadline <= .now() {
                context.close(promise: nil)
            } else {
                handler.schedule(context, at: handler.deadline)
            }
        }
    }
}
