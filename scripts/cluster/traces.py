#!/usr/bin/env python3
"""After the smoke test on a cluster: the functions' spans reached Jaeger
through the chart's OpenTelemetry Collector, and a booking is one trace
there: create-booking's server span, the event's creation under it, and its
send under that; record-booking-stats exported spans too. Whether its span
joins the booking's trace depends on the broker class passing the trace
context on: it is printed, not required.

    python3 scripts/cluster/traces.py http://127.0.0.1:16686
"""

import json
import sys
import time
import urllib.request

CHAIN = [
    "CloudEvents Process skybook.booking.create",
    "CloudEvents Create skybook.booking.created",
    "send skybook.booking.created",
]


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.load(response)


def chain_in(trace):
    """The spans of CHAIN in `trace`, each the child of the one before, or None."""
    spans = trace["spans"]
    found = []
    for name in CHAIN:
        parent = found[-1]["spanID"] if found else None
        match = [
            s for s in spans
            if s["operationName"] == name
            and (parent is None or any(r["spanID"] == parent for r in s.get("references", [])))
        ]
        if not match:
            return None
        found.append(match[0])
    return found


def main():
    base = sys.argv[1].rstrip("/")
    deadline = time.monotonic() + 180
    last = "nothing yet"
    while time.monotonic() < deadline:
        try:
            services = get(base, "/api/services").get("data") or []
            traces = get(base, "/api/traces?service=create-booking&limit=100&lookback=2h").get("data") or []
        except OSError as e:
            last = f"Jaeger did not answer: {e}"
            time.sleep(5)
            continue
        booked = [t for t in traces if chain_in(t)]
        if booked and "record-booking-stats" in services:
            trace = booked[0]
            names = {p["serviceName"] for p in trace["processes"].values()}
            print(f"traces: a booking's trace {trace['traceID']} holds {len(trace['spans'])} spans "
                  f"of {sorted(names)}; services seen: {sorted(services)}")
            joined = "record-booking-stats" in names
            print("traces: record-booking-stats " + ("joins the booking's trace" if joined else
                  "exports its own trace (the broker did not pass the context on)"))
            return 0
        last = f"services {services}, {len(traces)} create-booking traces, none with the whole chain"
        time.sleep(5)
    print(f"traces: no booking's trace in Jaeger after 3 minutes: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
