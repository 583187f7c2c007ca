"""Drives Drover's Marathon with marathon-python (the real client): create, list, scale,
restart, update, kill a task, delete, and read the event stream. Prints a JSON summary.
Usage: marathon_scenario.py http://host:port"""
import json
import sys
import threading
import time

from marathon import MarathonClient
from marathon.exceptions import MarathonHttpError, NotFoundError
from marathon.models import MarathonApp

URL = sys.argv[1]
c = MarathonClient(URL)
out = {"events": [], "errors": []}


def watch_events():
    try:
        for ev in c.event_stream(event_types=["status_update_event", "deployment_success", "api_post_event", "app_terminated_event"]):
            out["events"].append(ev.event_type)
    except Exception as e:  # the stream ends when the test ends
        out["errors"].append("event stream: %r" % e)


threading.Thread(target=watch_events, daemon=True).start()
time.sleep(0.5)


def wait(pred, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    out["errors"].append("timed out waiting for " + what)
    return False


def running(app_id, version=None):
    tasks = c.list_tasks(app_id)
    return [t for t in tasks if t.state == "TASK_RUNNING" and (version is None or t.version == version)]


def no_deployments():
    return len(c.list_deployments()) == 0


app = c.create_app("/test/sleeper", MarathonApp(cmd="sleep 600", cpus=0.1, mem=32, instances=2, labels={"team": "qa"}))
out["created_id"] = app.id
wait(lambda: len(running("/test/sleeper")) == 2 and no_deployments(), "2 running")
out["listed"] = [a.id for a in c.list_apps()]
out["label_filter"] = [a.id for a in c.list_apps(label="team==qa")]
out["get_app_instances"] = c.get_app("/test/sleeper").instances

c.scale_app("/test/sleeper", instances=4)
wait(lambda: len(running("/test/sleeper")) == 4 and no_deployments(), "scale to 4")
out["after_scale"] = len(running("/test/sleeper"))

before = {t.id for t in running("/test/sleeper")}
c.restart_app("/test/sleeper")
wait(lambda: no_deployments() and len(running("/test/sleeper")) == 4 and not ({t.id for t in running("/test/sleeper")} & before), "restart")
out["restart_replaced_all"] = not ({t.id for t in running("/test/sleeper")} & before)

c.update_app("/test/sleeper", MarathonApp(cmd="sleep 700", cpus=0.1, mem=32, instances=3))
wait(lambda: no_deployments() and len(running("/test/sleeper")) == 3, "update")
out["after_update_cmd"] = c.get_app("/test/sleeper").cmd
out["after_update"] = len(running("/test/sleeper"))

victim = running("/test/sleeper")[0].id
c.kill_task("/test/sleeper", victim)
wait(lambda: victim not in {t.id for t in running("/test/sleeper")} and len(running("/test/sleeper")) == 3, "replacement after kill")
out["replaced_after_kill"] = victim not in {t.id for t in running("/test/sleeper")}

victim = running("/test/sleeper")[0].id
c.kill_task("/test/sleeper", victim, scale=True)
wait(lambda: no_deployments() and len(running("/test/sleeper")) == 2, "kill with scale")
out["after_kill_scale"] = (c.get_app("/test/sleeper").instances, len(running("/test/sleeper")))

try:
    c.create_app("/test/sleeper", MarathonApp(cmd="sleep 1", cpus=0.1, mem=32))
    out["duplicate_create"] = "accepted"
except MarathonHttpError as e:
    out["duplicate_create"] = e.status_code

try:
    c.create_app("/test/bad", MarathonApp(cmd="x", args=["y"], instances=-1))
    out["invalid_create"] = "accepted"
except MarathonHttpError as e:
    out["invalid_create"] = e.status_code

c.delete_app("/test/sleeper")
wait(lambda: no_deployments() and not [a for a in c.list_apps() if a.id == "/test/sleeper"], "delete")
try:
    c.get_app("/test/sleeper")
    out["after_delete"] = "still there"
except NotFoundError:
    out["after_delete"] = 404
out["info_name"] = c.get_info().name
time.sleep(0.5)
print(json.dumps(out))
