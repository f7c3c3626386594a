import Foundation
import WardenCore

extension InMemoryGrants: DeviceAuthorizationRepository {
    public func insertDeviceAuthorization(_ record: DeviceAuthorizationRecord) async throws -> Bool {
        state.withLock { state in
            guard !state.devices.values.contains(where: { $0.userCode == record.userCode }) else { return false }
            state.devices[record.deviceCodeDigest] = record
            return true
        }
    }

    public func pendingDeviceAuthorization(userCode: String, at now: Date) async throws -> DeviceAuthorizationRecord? {
        state.withLock { state in state.devices.values.first { $0.userCode == userCode && $0.isPending(at: now) } }
    }

    public func decideDeviceAuthorization(userCode: String, grant: GrantRecord?, at now: Date) async throws -> Bool {
        state.withLock { state in
            guard let record = state.devices.values.first(where: { $0.userCode == userCode && $0.isPending(at: now) }) else { return false }
            if let grant {
                state.grants[grant.id] = grant
                state.devices[record.deviceCodeDigest]?.grant = grant
            } else {
                state.devices[record.deviceCodeDigest]?.denied = true
            }
            return true
        }
    }

    public func withLockedDeviceCode<T: Sendable>(
        digest: [UInt8], at now: Date, _ step: @escaping @Sendable (DeviceAuthorizationRecord?) throws -> GrantStep<T>
    ) async throws -> T {
        try state.withLock { state in
            var record = state.devices[digest]
            if let id = record?.grant?.id { record?.grant = state.grants[id] }
            let step = try step(record)
            try Self.apply(step.writes, at: now, to: &state)
            return step.result
        }
    }
}
