import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request has not arrived whole, headers and body, within
/// `timeout` of the connection's start or of the previous response's end. An idle
/// timeout alone restarts on every byte: a body sent a byte every 29 s would hold the
/// connection for weeks.
///
/// A request costs one clock read: the deadline moves, and the one timer of the
/// connection, when it fires, closes the connection or waits for the deadline in force.
public final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    let timeout: TimeAmount
    /// When the pending request must have arrived; nil while none is pending.
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        startWaiting(context)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { deadline = nil }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // The response is complete: the next request's time starts now.
        if case .end = unwrapOutboundIn(data) { startWaiting(context) }
        context.write(data, promise: promise)
    }

    private func startWaiting(_ context: ChannelHandlerContext) {
        let deadline = NIODeadline.now() + timeout
        self.deadline = deadline
        if timer == nil { schedule(context, at: deadline) }
    }

    private func schedule(_ context: ChannelHandlerContext, at time: NIODeadline) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: time) {
            let (handler, context) = bound.value
            handler.timer = nil
            guard let deadline = handler.deadline else { return }  // nothing pending: the next response rearms
            if deadline <= .now() {
                context.close(promise: nil)
            } else {
                handler.schedule(context, at: deadline)
            }
        }
    }
}
