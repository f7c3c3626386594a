import HTTPTypes
import Hummingbird
import WardenCore

extension WardenRoutes {
    /// RFC 9110 §15.5.6: a method a known path does not take is 405 with `Allow`, not 404.
    /// Added last, from the routes registered before it.
    func addMethodNotAllowedRoutes(to router: Router<WardenRequestContext>) {
        let methodsByPath = Dictionary(grouping: router.routes, by: { $0.path.description }).mapValues { Set($0.map(\.method)) }
        for (path, methods) in methodsByPath {
            let allowed = methods.union(methods.contains(.get) ? [.head] : [])
            let allow = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            for method in [HTTPRequest.Method.get, .head, .post, .put, .delete, .patch, .options] where !allowed.contains(method) {
                router.on(RouterPath(path), method: method) { _, _ in Self.methodNotAllowed(allow: allow) }
            }
        }
    }

    static func methodNotAllowed(allow: String) -> Response {
        var headers = HTTPFields.noStore
        headers[.allow] = allow
        return JSONBody.response(
            OAuthError.invalidRequest("This endpoint accepts \(allow) only").responseFields, status: .methodNotAllowed, headers: headers)
    }
}
