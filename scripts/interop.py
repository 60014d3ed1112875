"""Interoperability with the official CloudEvents SDK for Python: events it
produces, binary and structured, sent to a function and to the broker's
ingress, and the function's reply event parsed back with it.

usage: interop.py FUNCTION_URL [BROKER_INGRESS_URL]
       interop.py --parse < {"headers": {...}, "body": "..."}
FUNCTION_URL serves create-destination. Prints one JSON line of what it saw;
exits 1 on the first disagreement. --parse reads an HTTP message our code sent
and prints the event's attributes and data as the SDK reads them.
"""

import json
import sys
import urllib.error
import urllib.request
import uuid
import warnings

# The v1 HTTP API: the SDK's long-standing one (it warns that newer ones exist).
warnings.simplefilter("ignore")
from cloudevents.v1.http import CloudEvent, from_http, to_binary, to_structured  # noqa: E402


def post(url, headers, body):
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def fail(message):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(1)


def parse():
    message = json.load(sys.stdin)
    event = from_http({k.lower(): v for k, v in message["headers"].items()}, message["body"].encode())
    data = event.data if isinstance(event.data, dict) else json.loads(event.data)
    print(json.dumps({"ok": True, "attributes": dict(event.get_attributes()), "data": data}, default=str))


def main():
    if sys.argv[1] == "--parse":
        return parse()
    function_url = sys.argv[1]
    ingress = sys.argv[2] if len(sys.argv) > 2 else None
    seen = {}
    for mode, encode in (("binary", to_binary), ("structured", to_structured)):
        name = f"Interop {mode} {uuid.uuid4().hex[:8]}"
        event = CloudEvent(
            {
                "type": "skybook.destination.create",
                "source": "/interop/python",
                "id": str(uuid.uuid4()),
                "datacontenttype": "application/json",
            },
            {"name": name, "tax_amount": "12.50", "is_promotion": True, "allows_pets": False},
        )
        headers, body = encode(event)
        status, reply_headers, reply_body = post(function_url, headers, body)
        if status != 200:
            fail(f"{mode}: create-destination answered {status}: {reply_body!r}")
        # Header names arrive in any case; the SDK reads lower-case ones.
        reply = from_http({k.lower(): v for k, v in reply_headers.items()}, reply_body)
        if reply["type"] != "skybook.destination.created" or reply["source"] != "/skybook/destinations":
            fail(f"{mode}: unexpected reply attributes {reply.get_attributes()}")
        data = reply.data if isinstance(reply.data, dict) else json.loads(reply.data)
        if data["name"] != name or data["tax_amount"] != "12.50" or reply["subject"] != data["id"]:
            fail(f"{mode}: unexpected reply data {data}")
        seen[mode] = {"reply_id": reply["id"], "subject": reply["subject"]}
        if ingress:
            booking = CloudEvent(
                {
                    "type": "skybook.interop.checked",
                    "source": "/interop/python",
                    "id": str(uuid.uuid4()),
                    "datacontenttype": "application/json",
                },
                {"mode": mode},
            )
            headers, body = encode(booking)
            status, _, body = post(ingress, headers, body)
            if status != 202:
                fail(f"{mode}: the broker ingress answered {status}: {body!r}")
            seen[mode]["ingress"] = status
    print(json.dumps({"ok": True, "seen": seen}))


if __name__ == "__main__":
    main()
