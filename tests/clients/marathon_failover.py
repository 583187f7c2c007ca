"""marathon-python 0.13, given every Marathon's URL, through a failover of the leading Marathon
in the middle of a deployment. Usage: marathon_failover.py <host:port,host:port,…> <signal-file>

Creates /ha/web (2 instances of 1 CPU), scales it to 5 where only 4 fit, and prints DEPLOYING
with the running task ids; the test then kills the leading Marathon and creates <signal-file>.
The script goes on through the same client: the deployment must still be there (the new leader
resumed it), every version must still be there; it prints RESUMED, the test adds an agent, and
the deployment must finish with 5 instances, the first ones untouched. Prints JSON last."""
import json
import os
import sys
import time

from marathon import MarathonClient
from marathon.models import MarathonApp

URLS = ["http://" + u for u in sys.argv[1].split(",")]
SIGNAL = sys.argv[2]
c = MarathonClient(URLS, timeout=10)
out = {"errors": []}


def wait(pred, what, timeout=90):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if pred():
                return
        except Exception as e:  # a Marathon may be down or electing: keep asking
            last = repr(e)
        time.sleep(0.3)
    raise SystemExit(json.dumps(dict(out, failed=what, last_error=last)))


def running():
    return sorted(t.id for t in c.list_tasks("/ha/web") if t.state == "TASK_RUNNING")


c.create_app("/ha/web", MarathonApp(cmd="sleep 600", cpus=1.0, mem=32, instances=2))
wait(lambda: len(running()) == 2 and not c.list_deployments(), "first two instances")
first = running()
out["first"] = first
c.scale_app("/ha/web", instances=5)
wait(lambda: len(running()) == 4 and c.list_deployments(), "four of five, deployment waiting")
out["versions_before"] = sorted(c.list_versions("/ha/web"))
out["deployment_before"] = [d.id for d in c.list_deployments()]
print("DEPLOYING", flush=True)
wait(lambda: os.path.exists(SIGNAL), "the leader to be killed", timeout=60)
# The same client: its first URL may be the dead one.
wait(lambda: [d.id for d in c.list_deployments()] == out["deployment_before"], "the deployment after failover")
out["deployment_after"] = [d.id for d in c.list_deployments()]
out["versions_after"] = sorted(c.list_versions("/ha/web"))
out["running_after_failover"] = running()
print("RESUMED", flush=True)
wait(lambda: len(running()) == 5 and not c.list_deployments(), "the deployment to finish", timeout=120)
out["final"] = running()
out["instances"] = c.get_app("/ha/web").instances
print(json.dumps(out), flush=True)
