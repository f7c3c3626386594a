import Tracing

/// Runs `operation` in a span of its own when it is part of a traced request, and
/// untraced otherwise: background work (maintenance, startup) would fill the trace
/// store with root spans nobody asked for. `attribute` is the one fact worth keeping
/// (a database system, an algorithm), never a secret.
public func withChildSpan<T>(
    _ name: String, ofKind kind: SpanKind = .internal, attribute: (key: String, value: String)? = nil,
    _ operation: () async throws -> T
) async rethrows -> T {
    guard InstrumentationContext.current != nil else { return try await operation() }
    return try await withSpan(name, ofKind: kind) { span in
        if let attribute { span.attributes[attribute.key] = attribute.value }
        return try await operation()
    }
}

/// The synchronous form of `withChildSpan`.
public func withChildSpan<T>(
    _ name: String, ofKind kind: SpanKind = .internal, attribute: (key: String, value: String)? = nil, _ operation: () throws -> T
) rethrows -> T {
    guard InstrumentationContext.current != nil else { return try operation() }
    return try withSpan(name, ofKind: kind) { span in
        if let attribute { span.attributes[attribute.key] = attribute.value }
        return try operation()
    }
}
