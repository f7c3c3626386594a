import Foundation

/// The `claims` authorization request parameter (Core §5.5): which claims to return in
/// UserInfo and in the ID token, whatever the scope. `essential` and `value` are
/// accepted and not acted on (Core allows it: a claim is returned when the user has it).
public struct ClaimsRequest: Sendable, Equatable {
    /// Names in the `userinfo` member.
    public var userinfo: [String]
    /// Names in the `id_token` member.
    public var idToken: [String]

    /// Parses the parameter's JSON; anything but an object whose `userinfo` and
    /// `id_token` members (when present) are objects of `null` or objects is `invalid_request`.
    public init(json: String) throws(OAuthError) {
        let invalid = OAuthError.invalidRequest("claims must be a JSON object with userinfo and id_token members (Core 5.5)")
        guard json.utf8.count <= 4096, let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw invalid
        }
        func names(_ member: String) throws(OAuthError) -> [String] {
            guard let value = object[member] else { return [] }
            guard let requests = value as? [String: Any] else { throw invalid }
            for request in requests.values where !(request is NSNull || request is [String: Any]) { throw invalid }
            return requests.keys.sorted()
        }
        userinfo = try names("userinfo")
        idToken = try names("id_token")
    }
}
