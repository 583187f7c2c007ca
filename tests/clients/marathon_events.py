"""Follows Drover's Marathon with marathon-python's own event_stream() (parsed events, not raw)
through a create, scale, update, health failure, kill and delete, and drives the callback
subscriptions (create/list/delete_event_subscription). Prints a JSON summary: the event types
it parsed, every error the client raised, and what it read.
Usage: marathon_events.py http://host:port http://callback-url"""
import json
import sys
import threading
import time

from marathon import MarathonClient
from marathon.models import MarathonApp, MarathonHealthCheck

URL, CALLBACK = sys.argv[1], sys.argv[2]
c = MarathonClient(URL)
out = {"events": [], "errors": [], "plans": 0}


def watch_events():
    try:
        for ev in c.event_stream():
            out["events"].append(ev.event_type)
            if ev.event_type == "deployment_info":
                # The plan is parsed: original and target groups, steps of actions.
                out["plans"] += 1
                t = ev.plan.target
                out["plan_target_apps"] = sorted(
                    [a["id"] for a in (t.apps or [])] + [a["id"] for g in (t.groups or []) for a in g.get("apps", [])])
    except Exception as e:  # any exception here is the client failing on what it was sent
        out["errors"].append("event stream: %r" % e)


threading.Thread(target=watch_events, daemon=True).start()
time.sleep(0.5)


def wait(pred, what, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return True
        except Exception as e:
            out["errors"].append("%s: %r" % (what, e))
            return False
        time.sleep(0.2)
    out["errors"].append("timed out waiting for " + what)
    return False


def healthy(app_id, n):
    a = c.get_app(app_id)
    return a.tasks_healthy == n and a.tasks_running == n and not c.list_deployments()


try:
    out["subscribed"] = c.create_event_subscription(CALLBACK)["callbackUrl"]
    out["subscriptions"] = c.list_event_subscriptions()

    hc = MarathonHealthCheck(protocol="HTTP", path="/", interval_seconds=1, grace_period_seconds=30)
    c.create_app("/py/web", MarathonApp(cmd="python3 -m http.server $PORT0", cpus=0.05, mem=32, instances=1, health_checks=[hc]))
    wait(lambda: healthy("/py/web", 1), "healthy")
    app = c.get_app("/py/web")
    out["port_definitions"] = [p.port for p in app.port_definitions]
    out["health_check"] = {"interval": app.health_checks[0].interval_seconds, "timeout": app.health_checks[0].timeout_seconds}
    out["task_service_ports"] = [t.service_ports for t in c.list_tasks("/py/web")]

    c.scale_app("/py/web", instances=2)
    wait(lambda: healthy("/py/web", 2), "scale")
    c.update_app("/py/web", MarathonApp(cmd="python3 -m http.server $PORT0 --bind 0.0.0.0", cpus=0.05, mem=32, instances=2, health_checks=[hc]))
    wait(lambda: healthy("/py/web", 2), "update")

    sick = MarathonHealthCheck(protocol="HTTP", path="/missing", interval_seconds=1, grace_period_seconds=0, max_consecutive_failures=2)
    c.create_app("/py/sick", MarathonApp(cmd="python3 -m http.server $PORT0", cpus=0.05, mem=32, instances=1, health_checks=[sick]))
    wait(lambda: "unhealthy_instance_kill_event" in out["events"], "an unhealthy kill")
    c.delete_app("/py/sick", force=True)

    victim = c.list_tasks("/py/web")[0].id
    c.kill_task("/py/web", victim)
    wait(lambda: healthy("/py/web", 2) and victim not in [t.id for t in c.list_tasks("/py/web")], "replacement")
    c.delete_app("/py/web")
    wait(lambda: "app_terminated_event" in out["events"], "app_terminated_event")
    out["unsubscribed"] = c.delete_event_subscription(CALLBACK)["callbackUrl"]
    out["subscriptions_after"] = c.list_event_subscriptions()
except Exception as e:
    out["errors"].append("scenario: %r" % e)
time.sleep(1)
out["events"] = sorted(set(out["events"]))
print(json.dumps(out))
