"""The HTTP/REST front door: KServe v2 REST with Triton's HTTP extensions, on aiohttp.

    server.py      HttpFrontDoor: binds beside gRPC on the same event loop (TLS, SO_REUSEPORT, limits)
    middleware.py  what every request goes through: CORS, auth, drain admission, errors
    routes.py      one handler per route: read, call the data plane, write JSON
    codec.py       infer bodies <-> the data plane's types, binary tensor data extension
    proto_json.py  Triton's ModelConfig / statistics messages as Triton's HTTP JSON
    errors.py      the error -> HTTP status table
    openapi.py     the document at /v2/openapi.json

Like the gRPC servicer it only translates; the work is ``gateway.dataplane``'s.
"""
