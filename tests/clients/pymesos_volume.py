"""A pymesos framework of role `db` that keeps data on a persistent volume.

Usage: pymesos_volume.py <master> write|read

write: reserve cpus, mem and disk for `db` (dynamic, principal `ops`), CREATE volume `v1` on the
       reserved disk, and run a task that writes a file on it; prints WROTE and exits (the
       framework goes away; its reservation and volume stay).
read:  a new framework of role `db` is offered the volume again; a task reads the file back
       (TASK_FINISHED only if it holds what was written), then the framework DESTROYs the
       volume and UNRESERVEs everything; prints READ, then UNRESERVED once an offer shows no
       reservation left.
Every line printed is `<WORD> <detail>`; errors print `ERROR <why>` and exit 1.
"""
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler

MASTER, PHASE = sys.argv[1], sys.argv[2]
TEXT = "hello-from-the-volume"
done = threading.Event()
failed = []


def scalar(name, value, reserved=True):
    r = dict(name=name, type="SCALAR", scalar=dict(value=value))
    if reserved:
        r["role"] = "db"
        r["reservation"] = dict(principal="ops")
    return r


def volume():
    r = scalar("disk", 64)
    r["disk"] = dict(persistence=dict(id="v1", principal="ops"),
                     volume=dict(container_path="data", mode="RW"))
    return r


def is_volume(r):
    return r.get("name") == "disk" and (r.get("disk") or {}).get("persistence", {}).get("id") == "v1"


def reserved(r):
    return r.get("role", "*") not in ("*", None) or bool(r.get("reservations"))


class Volume(Scheduler):
    def __init__(self):
        self.stage = "start"

    def resourceOffers(self, driver, offers):
        for o in offers:
            res = o["resources"]
            if PHASE == "write" and self.stage == "start":
                self.stage = "writing"
                task = dict(name="writer", task_id=dict(value="writer"), agent_id=o["agent_id"],
                            resources=[scalar("cpus", 0.1), scalar("mem", 32), volume()],
                            command=dict(value="echo %s > data/file && sync" % TEXT))
                ops = [
                    dict(type="RESERVE", reserve=dict(resources=[
                        scalar("cpus", 0.1), scalar("mem", 32), scalar("disk", 64)])),
                    dict(type="CREATE", create=dict(volumes=[volume()])),
                    dict(type="LAUNCH", launch=dict(task_infos=[task])),
                ]
                driver.acceptOffers([o["id"]], ops, dict(refuse_seconds=1))
            elif PHASE == "read" and self.stage == "start" and any(is_volume(r) for r in res):
                self.stage = "reading"
                task = dict(name="reader", task_id=dict(value="reader"), agent_id=o["agent_id"],
                            resources=[scalar("cpus", 0.1), scalar("mem", 32), volume()],
                            command=dict(value='test "$(cat data/file)" = %s' % TEXT))
                driver.launchTasks([o["id"]], [task], dict(refuse_seconds=1))
            elif PHASE == "read" and self.stage == "read" and any(is_volume(r) for r in res):
                self.stage = "unreserving"
                ops = [
                    dict(type="DESTROY", destroy=dict(volumes=[volume()])),
                    dict(type="UNRESERVE", unreserve=dict(resources=[
                        scalar("cpus", 0.1), scalar("mem", 32), scalar("disk", 64)])),
                ]
                driver.acceptOffers([o["id"]], ops, dict(refuse_seconds=1))
            elif PHASE == "read" and self.stage == "unreserving" and not any(reserved(r) for r in res):
                print("UNRESERVED %s" % o["agent_id"]["value"], flush=True)
                driver.declineOffer([o["id"]], dict(refuse_seconds=1))
                done.set()
            else:
                driver.declineOffer([o["id"]], dict(refuse_seconds=1))

    def statusUpdate(self, driver, status):
        tid, state = status["task_id"]["value"], status["state"]
        print("UPDATE %s %s %s" % (tid, state, status.get("message", "")), flush=True)
        if state in ("TASK_STARTING", "TASK_RUNNING", "TASK_STAGING"):
            return
        if state != "TASK_FINISHED":
            failed.append("%s ended %s: %s" % (tid, state, status.get("message", "")))
            done.set()
        elif tid == "writer":
            print("WROTE", flush=True)
            done.set()
        elif tid == "reader":
            print("READ", flush=True)
            self.stage = "read"
            driver.reviveOffers()


sched = Volume()
fw = dict(user="", name="volume-%s" % PHASE, hostname="localhost", role="db", principal="ops",
          failover_timeout=0)
driver = MesosSchedulerDriver(sched, fw, MASTER, use_addict=True)
driver.start()
ok = done.wait(90)
driver.stop()
time.sleep(0.5)
if failed or not ok:
    print("ERROR %s" % (failed or "timed out in stage %s" % sched.stage), flush=True)
    sys.exit(1)
