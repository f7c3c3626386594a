import Foundation
import Metrics
import WardenCore

/// `warden_signing_keys{algorithm,state}`: how many keys each ring has in each state,
/// zeros included, so that a key leaving a state shows as a fall to zero.
enum SigningKeyMetrics {
    static func record(_ keys: [SigningKeyRecord], now: Date) {
        let schedule = SigningKeySchedule(keys: keys, now: now)
        var counts: [String: Int] = [:]
        for key in keys { counts["\(key.algorithm.rawValue) \(schedule.state(of: key).rawValue)", default: 0] += 1 }
        for algorithm in SigningAlgorithm.allCases {
            for state in SigningKeySchedule.State.allCases {
                Gauge(label: "warden_signing_keys", dimensions: [("algorithm", algorithm.rawValue), ("state", state.rawValue)])
                    .record(counts["\(algorithm.rawValue) \(state.rawValue)", default: 0])
            }
        }
    }
}
