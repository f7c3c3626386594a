import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// Renders the login, consent and error pages, with the headers every HTML
/// response carries (SECURITY.md).
public struct PageRenderer: Sendable {
    let library: MustacheLibrary

    /// Why a template directory could not be used.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// The built-in templates, each replaced by `directory/NAME.mustache` when that file exists.
    public init(templatesDirectory directory: String?) throws {
        var library = MustacheLibrary()
        var isDirectory: ObjCBool = false
        if let directory, !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
            throw Invalid(description: "templates_directory \(directory): not a directory")
        }
        for (name, builtIn) in PageTemplates.all {
            var text = builtIn
            if let directory {
                let path = URL(fileURLWithPath: directory).appendingPathComponent("\(name).mustache").path
                if let data = FileManager.default.contents(atPath: path) { text = String(decoding: data, as: UTF8.self) }
            }
            do { try library.register(text, named: name) } catch {
                throw Invalid(description: "template \(name) in \(directory ?? "the built-ins") does not parse: \(error)")
            }
        }
        self.library = library
    }

    /// A page response: `Content-Security-Policy`, `X-Frame-Options`, `Referrer-Policy`, `no-store`.
    func page(_ name: String, _ values: [String: Any], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        let html = library.render(values, withTemplate: name) ?? ""
        var headers = Self.securityHeaders
        headers.append(contentsOf: extra)
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static var securityHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.contentSecurityPolicy] = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[.xFrameOptions] = "DENY"
        headers[.referrerPolicy] = "no-referrer"
        headers[.cacheControl] = "no-store"
        return headers
    }
}
