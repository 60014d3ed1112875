#!/usr/bin/env python3
"""The smoke test of a running Skybook: a destination, a flight, a booking at
the README's price, a refused pet, and the booking in the stats, through the
broker. The same script runs against the local stack (`cargo xtask test`,
with target/devstack/urls.json) and against a Knative cluster (the kind job,
with the URLs of `kubectl get ksvc`).

    scripts/smoke.py URLS.json [--key ROLE=API_KEY ...] [--stats-timeout SECONDS] [--record FILE]

URLS.json maps each function's name to its URL, at the top level or under
"functions"; or it is `kubectl get ksvc -o json` as it stands. With
--record, every call (function, method, request data, status, the reply's ce-type and
data) is written to FILE, for the schemas to be checked against. Only the
standard library: it runs wherever Python 3 does.
"""

import argparse
import datetime
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class Failed(Exception):
    pass


# Who calls each function that needs a signed-in caller: the catalogue is
# written by an admin, bookings are made by an agent for a named passenger.
CALLER = {"create-destination": "admin", "create-flight": "admin", "create-booking": "agent"}


class Skybook:
    def __init__(self, urls, keys):
        self.urls = urls
        self.keys = keys
        self.calls = []

    def call(self, function, data, method="POST"):
        """Calls `function` with `data`: as plain JSON by POST, or as its
        parameters by GET (a query). Returns (status, body as JSON)."""
        if function not in self.urls:
            raise Failed(f"no URL for {function} in the map")
        url = self.urls[function]
        if method == "GET":
            url += "?" + urllib.parse.urlencode(data)
            request = urllib.request.Request(url, method="GET")
        else:
            request = urllib.request.Request(
                url, data=json.dumps(data).encode(), headers={"content-type": "application/json"}, method="POST"
            )
        key = self.keys.get(CALLER.get(function, ""))
        if key:
            request.add_header("authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw, headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, headers = error.code, error.read(), error.headers
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")
        # As it went, for the contract checks (the key itself left out).
        self.calls.append({
            "function": function, "method": method, "data": data, "status": status,
            "signed_in": bool(key), "reply_type": headers.get("ce-type"), "reply": body,
            "headers": {k.lower(): v for k, v in headers.items()
                        if k.lower().startswith("ce-") or k.lower() in ("content-type", "etag", "cache-control")},
        })
        return status, body

    def expect(self, function, data, status):
        got, body = self.call(function, data)
        if got != status:
            raise Failed(f"{function}: expected {status}, got {got}: {body}")
        return body


def step(name):
    print(f"smoke: {name}", flush=True)


def run(skybook, stats_timeout):
    suffix = secrets.token_hex(3)
    name = f"Cancún {suffix}"

    step(f"create-destination {name!r}: 10% promotion, tax 50, no pets")
    destination = skybook.expect(
        "create-destination",
        {"name": name, "tax_amount": "50", "is_promotion": True, "allows_pets": False},
        200,
    )

    step("create-flight: base price 1000")
    departure = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
    flight = skybook.expect(
        "create-flight",
        {
            "destination_id": destination["id"],
            "flight_number": f"SK{secrets.randbelow(10**6):06d}",
            "base_price": "1000",
            "departure_at": departure.isoformat(),
            "capacity": 10,
        },
        200,
    )
    found = skybook.expect("get-flight", {"id": flight["id"]}, 200)
    if found["id"] != flight["id"]:
        raise Failed(f"get-flight answered another flight: {found}")
    status, by_get = skybook.call("get-flight", {"id": flight["id"]}, method="GET")
    if status != 200 or by_get != found:
        raise Failed(f"get-flight by GET answered {status}: {by_get}")

    step("create-booking: 1000 × 0.90 + 50 = 950.00")
    booking = skybook.expect(
        "create-booking",
        {"flight_id": flight["id"], "passenger_name": "Ada", "passenger_age": 30, "has_pet": False,
         "passenger_subject": "smoke-ada"},
        200,
    )
    if booking["price"]["total"] != "950.00":
        raise Failed(f"the booking's total is {booking['price']['total']}, not 950.00: {booking}")

    step("create-booking with a pet: refused, 422 pets_not_allowed")
    status, body = skybook.call(
        "create-booking",
        {"flight_id": flight["id"], "passenger_name": "Rex", "passenger_age": 30, "has_pet": True,
         "passenger_subject": "smoke-rex"},
    )
    expected = f"El destino {name} no acepta mascotas"
    if status != 422 or body["error"]["code"] != "pets_not_allowed" or body["error"]["message"] != expected:
        raise Failed(f"a pet to {name}: expected 422 pets_not_allowed ({expected!r}), got {status}: {body}")

    step("get-stats: the booking arrives through the broker and its trigger")
    deadline = time.monotonic() + stats_timeout
    while True:
        stats = skybook.expect("get-stats", {"destinations": 100, "candy_log": 0}, 200)
        mine = [d for d in stats["destinations"] if d["name"] == name]
        if mine and mine[0]["bookings"] == 1 and mine[0]["revenue"] == "950.00":
            break
        if time.monotonic() > deadline:
            raise Failed(f"after {stats_timeout}s the stats still do not show the booking to {name}: {stats}")
        time.sleep(0.5)
    step("every step passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("urls", help="a JSON file mapping function names to URLs")
    parser.add_argument("--key", action="append", default=[], metavar="ROLE=KEY",
                        help="an API key and its role (admin, agent), sent as Authorization: Bearer; repeatable")
    parser.add_argument("--stats-timeout", type=float, default=60, help="seconds to wait for the stats")
    parser.add_argument("--record", help="write every successful call, and its reply, to this JSON file")
    args = parser.parse_args()
    with open(args.urls) as file:
        urls = json.load(file)
    if "items" in urls:  # kubectl get ksvc -o json
        urls = {s["metadata"]["name"]: s["status"]["url"] for s in urls["items"] if s.get("status", {}).get("url")}
    urls = urls.get("functions", urls)
    keys = dict(entry.split("=", 1) for entry in args.key if "=" in entry)
    skybook = Skybook(urls, keys)
    try:
        run(skybook, args.stats_timeout)
    except Failed as failure:
        print(f"smoke: FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    finally:
        if args.record:
            with open(args.record, "w") as file:
                json.dump(skybook.calls, file, indent=1)


if __name__ == "__main__":
    main()
