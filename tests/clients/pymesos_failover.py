"""The real pymesos scheduler driver, given a zk:// master URL, through a master failover.
Usage: pymesos_failover.py <zk://…/mesos> <signal-file>

Launches a long task and prints 'RUNNING' when it runs; the test then kills the leading master
and creates <signal-file>. The scheduler must be re-registered by the new leader (pymesos finds
it through ZooKeeper with kazoo), the long task must be reported RUNNING by reconciliation, a new
task must run to completion, and the long task must be killable. Prints a JSON summary last."""
import json
import os
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler

MASTER, SIGNAL = sys.argv[1], sys.argv[2]
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED"}


def res():
    return [dict(name="cpus", type="SCALAR", scalar=dict(value=0.1)),
            dict(name="mem", type="SCALAR", scalar=dict(value=32))]


class Failover(Scheduler):
    def __init__(self):
        self.lock = threading.Lock()
        self.updates = {}
        self.masters = []
        self.reregistered_at = None
        self.reconciled = []
        self.launched = set()
        self.phase = "first"
        self.errors = []
        self.done = threading.Event()

    def registered(self, driver, framework_id, master_info):
        with self.lock:
            self.masters.append(("registered", master_info["hostname"], master_info["port"]))

    def reregistered(self, driver, master_info):
        with self.lock:
            self.masters.append(("reregistered", master_info["hostname"], master_info["port"]))
            if self.phase == "failover":
                self.reregistered_at = time.time()
                self.phase = "reconcile"
        driver.reconcileTasks([dict(task_id=dict(value="long"))])

    def launch(self, driver, offer, name, cmd):
        self.launched.add(name)
        driver.launchTasks([offer["id"]], [dict(
            name=name, task_id=dict(value=name), agent_id=offer["agent_id"], resources=res(),
            command=dict(shell=True, value=cmd))], dict(refuse_seconds=1))

    def resourceOffers(self, driver, offers):
        with self.lock:
            want = None
            if "long" not in self.launched:
                want = ("long", "sleep 600")
            elif self.phase == "after" and "after" not in self.launched:
                want = ("after", "echo after-failover")
        if want is None:
            driver.declineOffer([o["id"] for o in offers], dict(refuse_seconds=1))
            return
        self.launch(driver, offers[0], *want)
        if len(offers) > 1:
            driver.declineOffer([o["id"] for o in offers[1:]], dict(refuse_seconds=1))

    def statusUpdate(self, driver, update):
        name = update["task_id"]["value"]
        state = update["state"]
        with self.lock:
            self.updates.setdefault(name, []).append(state)
            if update.get("reason") == "REASON_RECONCILIATION":
                self.reconciled.append((name, state))
                if self.phase == "reconcile" and name == "long" and state == "TASK_RUNNING":
                    self.phase = "after"
                    driver.reviveOffers()
            if name == "long" and state == "TASK_RUNNING" and self.phase == "first":
                self.phase = "failover"
                print("RUNNING", flush=True)
            if name == "after" and state in TERMINAL:
                self.phase = "kill"
                driver.killTask(dict(value="long"))
            if name == "long" and state in TERMINAL and self.phase == "kill":
                self.done.set()


def main():
    sched = Failover()
    framework = dict(user=os.environ.get("USER", "root"), name="pymesos-failover",
                     failover_timeout=3600.0, hostname="localhost")
    driver = MesosSchedulerDriver(sched, framework, MASTER, use_addict=True)
    driver.start()
    # Reconciliation is retried, as frameworks do: while agents re-register after a failover
    # the master answers nothing about tasks that may be on them.
    deadline = time.time() + 150
    finished = False
    while time.time() < deadline:
        if sched.done.wait(2):
            finished = True
            break
        with sched.lock:
            again = sched.phase == "reconcile"
        if again:
            driver.reconcileTasks([dict(task_id=dict(value="long"))])
    driver.stop()
    with sched.lock:
        print(json.dumps(dict(
            completed=finished, phase=sched.phase, updates=sched.updates,
            reconciled=sched.reconciled, masters=sched.masters, errors=sched.errors,
            signal_seen=os.path.exists(SIGNAL))), flush=True)


if __name__ == "__main__":
    main()
