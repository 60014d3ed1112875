#!/usr/bin/env python3
"""The kind job's resource budget (budget.json) against the live cluster.

  budget.py trim     after prerequisites.sh: every Deployment the
                     prerequisites made is the one budget.json lists, with the
                     requests it lists (so the offline budget check reads what
                     the cluster runs); then each gets budget.json's kind CPU
                     request, for a one-node test cluster.
  budget.py report   after the install: what every pod requests, by namespace;
                     fails if a pod could not be scheduled or the sum is past
                     the runner's share.
"""
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

BUDGET = json.loads((Path(__file__).parent / "budget.json").read_text())


def kubectl(*args):
    return subprocess.run(["kubectl", *args], check=True, capture_output=True, text=True).stdout


def quantity(text):
    """CPU in millicores or memory in bytes, from a Kubernetes quantity."""
    text = str(text or "0")
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def millicores(text):
    return round(quantity(text) * 1000)


def requests(pod_spec):
    cpu = memory = 0
    for container in pod_spec.get("containers", []):
        wanted = container.get("resources", {}).get("requests", {})
        cpu += millicores(wanted.get("cpu"))
        memory += quantity(wanted.get("memory"))
    return cpu, memory


def trim():
    listed = {(d["namespace"], d["name"]): d for d in BUDGET["deployments"]}
    wrong = []
    for namespace in sorted({ns for ns, _ in listed}):
        for deployment in json.loads(kubectl("get", "deployments", "-n", namespace, "-o", "json"))["items"]:
            key = (namespace, deployment["metadata"]["name"])
            entry = listed.pop(key, None)
            if entry is None:
                wrong.append(f"{namespace}/{key[1]} is not in budget.json")
                continue
            cpu, memory = requests(deployment["spec"]["template"]["spec"])
            if (cpu, memory) != (millicores(entry["cpu"]), quantity(entry["memory"])):
                wrong.append(f"{namespace}/{key[1]} requests {cpu}m and {memory / 2**20:.0f}Mi, "
                             f"budget.json says {entry['cpu']} and {entry['memory']}")
    wrong += [f"{ns}/{name} is in budget.json but not in the cluster" for ns, name in listed]
    if wrong:
        sys.exit("budget: budget.json no longer says what the prerequisites install:\n  " + "\n  ".join(wrong))
    for entry in BUDGET["deployments"]:
        if millicores(entry["cpu"]) > millicores(BUDGET["kind"]["cpu"]):
            kubectl("set", "resources", "deployment", entry["name"], "-n", entry["namespace"],
                    f"--requests=cpu={BUDGET['kind']['cpu']}")
    for entry in BUDGET["deployments"]:
        kubectl("rollout", "status", "deployment", entry["name"], "-n", entry["namespace"], "--timeout=5m")
    print(f"budget: {len(BUDGET['deployments'])} prerequisite Deployments as budget.json lists them, "
          f"trimmed to {BUDGET['kind']['cpu']} each")


def report():
    by_namespace = defaultdict(lambda: [0, 0.0])
    unscheduled = []
    for pod in json.loads(kubectl("get", "pods", "-A", "-o", "json"))["items"]:
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            continue
        cpu, memory = requests(pod["spec"])
        by_namespace[pod["metadata"]["namespace"]][0] += cpu
        by_namespace[pod["metadata"]["namespace"]][1] += memory
        for condition in pod["status"].get("conditions", []):
            if condition["type"] == "PodScheduled" and condition["status"] == "False":
                unscheduled.append(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}: {condition.get('message')}")
    runner = BUDGET["runner"]
    cpu_cap = millicores(runner["cpu"]) * runner["share"]
    memory_cap = quantity(runner["memory"]) * runner["share"]
    for namespace, (cpu, memory) in sorted(by_namespace.items()):
        print(f"{namespace:24} {cpu:6}m {memory / 2**20:8.0f}Mi")
    cpu = sum(c for c, _ in by_namespace.values())
    memory = sum(m for _, m in by_namespace.values())
    print(f"{'requested':24} {cpu:6}m {memory / 2**20:8.0f}Mi   of {cpu_cap:.0f}m and {memory_cap / 2**20:.0f}Mi")
    if unscheduled:
        sys.exit("budget: pods the scheduler could not place:\n  " + "\n  ".join(unscheduled))
    if cpu > cpu_cap or memory > memory_cap:
        sys.exit("budget: the cluster requests more than the runner's share")


if __name__ == "__main__":
    {"trim": trim, "report": report}[sys.argv[1] if len(sys.argv) > 1 else "report"]()
