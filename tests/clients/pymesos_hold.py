"""A pymesos framework that launches N `sleep` tasks, prints RUNNING when they all run, and
holds them until its stdin closes. Usage: pymesos_hold.py <master> <n> [name] [failover_timeout]"""
import json
import sys
import threading

from pymesos import MesosSchedulerDriver, Scheduler

MASTER, N = sys.argv[1], int(sys.argv[2])
NAME = sys.argv[3] if len(sys.argv) > 3 else "holder"
FAILOVER = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0


class Hold(Scheduler):
    def __init__(self):
        self.launched = 0
        self.running = set()
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        print("REGISTERED %s" % framework_id["value"], flush=True)

    def resourceOffers(self, driver, offers):
        for o in offers:
            tasks = []
            with self.lock:
                while self.launched < N and len(tasks) < 4:
                    i = self.launched
                    self.launched += 1
                    tasks.append(dict(name="hold-%d" % i, task_id=dict(value="%s-%d" % (NAME, i)), agent_id=o["agent_id"],
                                      resources=[dict(name="cpus", type="SCALAR", scalar=dict(value=0.05)),
                                                 dict(name="mem", type="SCALAR", scalar=dict(value=16))],
                                      command=dict(value="echo started; sleep 1000")))
            if tasks:
                driver.launchTasks([o["id"]], tasks)
            else:
                driver.declineOffer([o["id"]], dict(refuse_seconds=30))

    def statusUpdate(self, driver, status):
        print("UPDATE %s %s" % (status["task_id"]["value"], status["state"]), flush=True)
        with self.lock:
            if status["state"] == "TASK_RUNNING":
                self.running.add(status["task_id"]["value"])
                if len(self.running) == N:
                    print("RUNNING %d" % N, flush=True)


sched = Hold()
fw = dict(user="", name=NAME, hostname="localhost", failover_timeout=FAILOVER)
driver = MesosSchedulerDriver(sched, fw, MASTER, use_addict=True)
driver.start()
sys.stdin.read()
driver.stop(failover=FAILOVER > 0)
