// The API's own documentation: GET /openapi.json (api/openapi.yaml, converted at build time) and
// Swagger UI under /swagger-ui (npm swagger-ui-dist, pinned and embedded at build time, with an
// initializer that loads /openapi.json). Everything is served from memory: the binary needs no
// files next to it and reaches no CDN.
//
// Caching: the page, the initializer and the document are `no-cache` (revalidated on every use,
// so a new build shows at once); the vendored Swagger UI assets may be cached for a day. Every
// response has a strong ETag, and If-None-Match answers 304.
//
// Thread safety: the handlers read only immutable embedded data; call them from any thread.
#pragma once

#include <string_view>

#include "http/server.h"

namespace mca::api {

// Adds GET /openapi.json, GET /swagger-ui and /swagger-ui/ (the page) and GET /swagger-ui/{file}
// (the page's assets, index.html included). HEAD is answered by the server through the GET routes.
void add_docs_routes(http::router& r);

// The response of GET /openapi.json for `req` (200 with the document, or 304).
http::response openapi_response(const http::request& req);

// The response of GET /swagger-ui/{file} for `req`: 200 with the file, 304, or 404 not_found for
// a name that is not one of the embedded files.
http::response swagger_ui_response(std::string_view file, const http::request& req);

}  // namespace mca::api
