"""Drives Drover's master with the real pymesos scheduler driver and prints what happened as
JSON. Usage: pymesos_scenario.py <master host:port> <workdir> <executor.py>"""
import json
import os
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler, encode_data, decode_data

MASTER, WORK, EXECUTOR = sys.argv[1], sys.argv[2], sys.argv[3]
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED"}


def res(cpus=0.1, mem=32):
    return [dict(name="cpus", type="SCALAR", scalar=dict(value=cpus)),
            dict(name="mem", type="SCALAR", scalar=dict(value=mem))]


class Scenario(Scheduler):
    def __init__(self):
        self.lock = threading.Lock()
        self.updates = {}      # task -> [state, ...]
        self.details = {}      # task -> last status
        self.reconciled = []   # (task, state, reason)
        self.messages = []
        self.launched = False
        self.offers_seen = 0
        self.offers_after_revive = 0
        self.phase = "launch"
        self.done = threading.Event()
        self.framework_id = None
        self.errors = []

    def registered(self, driver, framework_id, master_info):
        self.framework_id = framework_id["value"]

    def resourceOffers(self, driver, offers):
        with self.lock:
            self.offers_seen += len(offers)
            if self.phase == "suppressed":
                self.errors.append("offer received while suppressed")
            if self.phase == "revived":
                self.offers_after_revive += len(offers)
                driver.declineOffer([o["id"] for o in offers], dict(refuse_seconds=1))
                self.phase = "finishing"
                self.check_done(driver)
                return
            if self.launched or self.phase != "launch":
                driver.declineOffer([o["id"] for o in offers], dict(refuse_seconds=1))
                return
            self.launched = True
        offer = offers[0]
        agent = offer["agent_id"]
        script = os.path.join(WORK, "fetched.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\necho fetched-ran\n")

        def task(name, **kw):
            t = dict(name=name, task_id=dict(value=name), agent_id=agent, resources=res())
            t.update(kw)
            return t

        tasks = [
            task("shell-ok", command=dict(value='echo "hello-$FOO"; test "$FOO" = bar',
                                          environment=dict(variables=[dict(name="FOO", value="bar")]))),
            task("argv-ok", command=dict(shell=False, value="/bin/sh", arguments=["sh", "-c", "exit 0"])),
            task("fail", command=dict(value="exit 3")),
            task("uris", command=dict(value="./fetched.sh", uris=[dict(value=script, executable=True)])),
            task("bad-fetch", command=dict(value="true", uris=[dict(value="/nonexistent/artifact.tgz")])),
            task("sleeper", command=dict(value="sleep 1000")),
            task("exec-task", executor=dict(
                executor_id=dict(value="echo-executor"), name="echo executor",
                command=dict(value="%s %s" % (sys.executable, EXECUTOR)),
                resources=res(0.1, 64))),
            task("no-resources", command=dict(value="true"), resources=[]),
            task("shell-ok", command=dict(value="true")),  # duplicate id
        ]
        driver.launchTasks([offer["id"]], tasks, dict(refuse_seconds=1))
        rest = [o["id"] for o in offers[1:]]
        if rest:
            driver.declineOffer(rest, dict(refuse_seconds=1))

    def statusUpdate(self, driver, status):
        tid = status["task_id"]["value"]
        state = status["state"]
        with self.lock:
            if status.get("reason") == "REASON_RECONCILIATION":
                self.reconciled.append((tid, state, status.get("reason")))
            else:
                self.updates.setdefault(tid, []).append(state)
                self.details[tid] = dict(state=state, message=status.get("message"), reason=status.get("reason"),
                                         source=status.get("source"))
        if tid == "sleeper" and state == "TASK_RUNNING":
            driver.killTask(dict(value="sleeper"))
        if tid == "exec-task" and state == "TASK_RUNNING":
            driver.sendFrameworkMessage(dict(value="echo-executor"), status["agent_id"], encode_data(b"ping"))
        with self.lock:
            self.check_done(driver)

    def frameworkMessage(self, driver, executor_id, agent_id, message):
        text = decode_data(message).decode()
        with self.lock:
            self.messages.append(text)
        if text == "pong":
            driver.sendFrameworkMessage(executor_id, agent_id, encode_data(b"finish"))

    def error(self, driver, message):
        self.errors.append(message)

    def check_done(self, driver):
        # Called with the lock held.
        want = {"shell-ok", "argv-ok", "fail", "uris", "bad-fetch", "sleeper", "exec-task", "no-resources"}
        finished = all(t in self.details and self.details[t]["state"] in TERMINAL for t in want)
        if self.phase == "launch" and finished:
            self.phase = "reconcile"
            threading.Thread(target=self.reconcile_then_suppress, args=(driver,), daemon=True).start()
        if self.phase == "finishing":
            self.phase = "done"
            self.done.set()

    def reconcile_then_suppress(self, driver):
        driver.reconcileTasks([dict(task_id=dict(value="shell-ok")), dict(task_id=dict(value="never-existed"))])
        driver.reconcileTasks([])
        time.sleep(1.0)
        with self.lock:
            self.phase = "suppressed"
        driver.suppressOffers()
        time.sleep(2.5)
        with self.lock:
            self.phase = "revived"
        driver.reviveOffers()


def main():
    sched = Scenario()
    framework = dict(user="", name="pymesos-scenario", hostname="localhost", failover_timeout=0,
                     capabilities=[dict(type="MULTI_ROLE")], roles=["*"])
    driver = MesosSchedulerDriver(sched, framework, MASTER, use_addict=True)
    driver.start()
    ok = sched.done.wait(90)
    driver.stop()
    with sched.lock:
        print(json.dumps(dict(completed=ok, framework_id=sched.framework_id, updates=sched.updates,
                              details=sched.details, reconciled=sched.reconciled, messages=sched.messages,
                              offers_seen=sched.offers_seen, offers_after_revive=sched.offers_after_revive,
                              errors=sched.errors)))


if __name__ == "__main__":
    main()
