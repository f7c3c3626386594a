import Hummingbird

extension WardenRoutes {
    /// `GET /openapi.yaml`: the OpenAPI 3.1 description of the public HTTP API, the file
    /// beside this one (OPERATIONS.md), compiled into the binary.
    func addOpenAPIRoute(to router: Router<WardenRequestContext>) {
        let document = ByteBuffer(bytes: PackageResources.openapi_yaml)
        router.get("/openapi.yaml") { _, _ in
            var headers = HTTPFields.anyOrigin
            headers[.contentType] = "application/yaml"
            headers[.cacheControl] = "public, max-age=300"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: document))
        }
    }
}
