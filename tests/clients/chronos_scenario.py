"""Drives Drover's jobs scheduler with chronos-python 1.2.1 (the real client, unchanged):
add a scheduled job and a dependent one, list, search, run now, wait for both to succeed (the
child after its parent), read stats and the dependency graph, kill, delete; the legacy
(`/scheduler/`, no version) mode with Chronos 2's `async` and `epsilon`; an unknown job's error.
Prints a JSON summary. Usage: chronos_scenario.py host:port[/prefix]"""
import json
import sys
import time
from datetime import datetime, timedelta, timezone

import chronos

SERVER = sys.argv[1]
c = chronos.connect([SERVER])
legacy = chronos.connect([SERVER], scheduler_api_version=None)
out = {"errors": []}


def wait(pred, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return True
        except chronos.ChronosAPIError:
            pass
        time.sleep(0.3)
    out["errors"].append("timed out waiting for " + what)
    return False


def job(name):
    found = [j for j in c.list() if j["name"] == name]
    return found[0] if found else None


start = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
parent = {
    "name": "etl-extract",
    "command": "echo extracting $CHRONOS_ARG; sleep 1",
    "owner": "ops@example.com",
    "disabled": False,
    "schedule": "R/%s/PT1H" % start,
    "scheduleTimeZone": "UTC",
    "cpus": 0.1,
    "mem": 32,
    "retries": 1,
}
child = {
    "name": "etl-load",
    "command": "echo loading",
    "owner": "ops@example.com",
    "disabled": False,
    "parents": ["etl-extract"],
    "cpus": 0.1,
    "mem": 32,
}
c.add(parent)
c.add(child)
out["listed"] = sorted(j["name"] for j in c.list())
out["search"] = [j["name"] for j in c.search(name="extract")]
out["schedule"] = job("etl-extract")["schedule"]
out["child_parents"] = job("etl-load")["parents"]

c.run("etl-extract")
wait(lambda: job("etl-extract")["successCount"] >= 1, "the parent's success")
wait(lambda: job("etl-load")["successCount"] >= 1, "the child's success after its parent")
out["parent_success"] = job("etl-extract")["successCount"]
out["child_success"] = job("etl-load")["successCount"]
out["parent_last_success"] = job("etl-extract").get("lastSuccess", "")
graph = c.scheduler_graph()
out["graph"] = sorted(graph.strip().splitlines()) if isinstance(graph, str) else graph
out["job_stat"] = c.job_stat("etl-extract")
out["median"] = c.scheduler_stat_median()

# Update: the same name replaces the job.
parent["command"] = "echo extracting v2"
c.update(parent)
out["updated_command"] = job("etl-extract")["command"]

# A long one, killed.
c.add({"name": "sleeper", "command": "sleep 300", "owner": "ops@example.com", "disabled": False,
       "schedule": "R/%s/PT1H" % start, "cpus": 0.1, "mem": 32})
c.run("sleeper")
time.sleep(2)
c.delete_tasks("sleeper")

# Legacy Chronos 2 mode: no /v1 prefix, `async` and `epsilon` sent.
legacy.add({"name": "legacy-job", "command": "true", "owner": "ops@example.com", "disabled": False,
            "async": False, "epsilon": "PT30S", "schedule": "R/%s/P1D" % start})
out["legacy_listed"] = [j["name"] for j in legacy.list() if j["name"] == "legacy-job"]

# Errors.
try:
    c.run("no-such-job")
    out["unknown_run"] = "no error"
except chronos.ChronosAPIError as e:
    out["unknown_run"] = "error: %s" % e
try:
    # `async` too: chronos-python's legacy client above added it to the fields every client checks.
    c.add({"name": "orphan", "command": "true", "owner": "o", "disabled": False, "async": False,
           "parents": ["missing-parent"]})
    out["orphan"] = "no error"
except chronos.ChronosAPIError as e:
    out["orphan"] = "error: %s" % e

for name in ["etl-load", "etl-extract", "sleeper", "legacy-job"]:
    c.delete(name)
out["after_delete"] = sorted(j["name"] for j in c.list())
print(json.dumps(out))
