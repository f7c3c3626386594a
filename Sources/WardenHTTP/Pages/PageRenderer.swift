import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// Renders the login, consent and error pages, with the headers every HTML
/// response carries (SECURITY.md), and the operator's brand on every one.
public struct PageRenderer: Sendable {
    let library: MustacheLibrary
    /// Shown at the top of every page (`brand_name`).
    let brandName: String
    /// The logo served at `/static/logo` (`brand_logo_file`), with its content type.
    let logo: (bytes: [UInt8], contentType: String)?

    /// Why a template directory could not be used.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// The built-in templates, each replaced by `directory/NAME.mustache` when that file
    /// exists; `logoFile` a PNG, SVG, JPEG or WebP image served same-origin.
    public init(templatesDirectory directory: String?, brandName: String = "Warden", logoFile: String? = nil) throws {
        self.brandName = brandName
        if let logoFile {
            let types = ["png": "image/png", "svg": "image/svg+xml", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"]
            guard let type = types[URL(fileURLWithPath: logoFile).pathExtension.lowercased()] else {
                throw Invalid(description: "brand_logo_file \(logoFile): not a .png, .svg, .jpg or .webp file")
            }
            guard let data = FileManager.default.contents(atPath: logoFile), data.count <= 512 * 1024 else {
                throw Invalid(description: "brand_logo_file \(logoFile): cannot be read, or larger than 512 KiB")
            }
            logo = (Array(data), type)
        } else {
            logo = nil
        }
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

    /// A page response: `Content-Security-Policy` (`scriptHash`: the base64 SHA-256 of
    /// the one inline script the page may run), `X-Frame-Options`, `Referrer-Policy`, `no-store`.
    func page(
        _ name: String, _ values: [String: Any], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:],
        scriptHash: String? = nil
    ) -> Response {
        var values = values
        values["brand_name"] = brandName
        values["logo"] = logo != nil
        let html = library.render(values, withTemplate: name) ?? ""
        var headers = Self.securityHeaders
        if let scriptHash {
            headers[.contentSecurityPolicy] = Self.contentSecurityPolicy + "; script-src 'sha256-\(scriptHash)'"
        }
        headers.append(contentsOf: extra)
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// 503 with `Retry-After`: the server cannot answer now (its database is down or full).
    func unavailablePage() -> Response {
        var headers = HTTPFields()
        headers[.retryAfter] = "1"
        return page("error", ErrorPageText.unavailable, status: .serviceUnavailable, headers: headers)
    }

    static let contentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"

    static var securityHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xFrameOptions] = "DENY"
        headers[.referrerPolicy] = "no-referrer"
        headers[.cacheControl] = "no-store"
        return headers
    }
}
