"""Checks real traffic against the OpenAPI documents: every request the
smoke run made (its --record file) and every answer it got, 2xx and errors
alike, validated by openapi-core against schemas/api/openapi/<function>.json:
method, parameters, body, security, status, headers and body.

    check-openapi-traffic.py DIR CALLS.json
"""

import json
import pathlib
import sys

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

HOST = "http://localhost:8080"


def main():
    docs, calls = pathlib.Path(sys.argv[1]), json.loads(pathlib.Path(sys.argv[2]).read_text())
    specs, checked, statuses = {}, 0, set()
    for n, call in enumerate(calls):
        function = call["function"]
        path = docs / f"{function}.json"
        if not path.exists():
            raise SystemExit(f"call {n}: {function} has no OpenAPI document")
        spec = specs.setdefault(function, OpenAPI.from_file_path(str(path)))
        headers = {"authorization": "Bearer recorded"} if call.get("signed_in") else {}
        if call["method"] == "GET":
            args = {k: str(v) for k, v in call["data"].items()}
            request = MockRequest(HOST, "get", "/", args=args, headers=headers)
        else:
            body = json.dumps(call["data"]).encode()
            request = MockRequest(HOST, "post", "/", data=body, headers=headers, content_type="application/json")
        reply = json.dumps(call["reply"]).encode()
        response_headers = dict(call.get("headers", {}))
        content_type = response_headers.pop("content-type", "application/json")
        response = MockResponse(reply, status_code=call["status"], headers=response_headers,
                                content_type=content_type)
        try:
            spec.validate_request(request)
            spec.validate_response(request, response)
        except Exception as error:  # openapi-core's errors name the part at fault
            detail = getattr(error, "__cause__", None) or error
            raise SystemExit(f"call {n}, {call['method']} {function} -> {call['status']}: {error}: {detail}")
        checked += 1
        statuses.add(call["status"])
    print(f"openapi: {checked} real calls to {len(specs)} functions meet their OpenAPI documents "
          f"(statuses {sorted(statuses)}; openapi-core)")


if __name__ == "__main__":
    main()
