"""Drives Drover's Metronome API with dcos-metronome 0.3.0 (the real client, unchanged): it
parses every answer with protobuf's json_format.Parse, which refuses any field its .proto lacks,
so each call below also checks that Drover writes only what Metronome's old clients know.
Creates a job, lists and gets it, updates it, starts a run, lists and gets the run, waits for
its success in the history, adds, gets, lists, updates and deletes a schedule, stops a run,
deletes the job, and reads the errors of an unknown job. Prints a JSON summary; the calls that
raised are listed under "errors".
Usage: metronome_scenario.py http://host:port[/service/metronome] JOB_ID"""
import json
import sys
import time

import requests
from google.protobuf.json_format import MessageToDict

from metronome import MetronomeClient
from metronome.exceptions import MetronomeHttpError, NotFoundError
from metronome.models import JobRun, JobSpec, ScheduleSpec

URL = sys.argv[1]
JOB = sys.argv[2]
c = MetronomeClient(URL, timeout=20)
out = {"errors": []}


def step(name, f):
    try:
        return f()
    except Exception as e:  # recorded, the scenario goes on
        out["errors"].append("%s: %r" % (name, e))
        return None


def wait(pred, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return True
        except Exception:
            pass
        time.sleep(0.3)
    out["errors"].append("timed out waiting for " + what)
    return False


def history():
    # The client has no history call: read it as the dcos CLI does.
    r = requests.get("%s/v1/jobs/%s?embed=history" % (URL.rstrip("/"), JOB), timeout=20)
    return r.json()["history"]


out["ping"] = step("ping", c.ping)

job = JobSpec()
job.id = JOB
job.description = "echoes"
job.labels["team"] = "qa"
job.run.cmd = "echo hello-from-metronome"
job.run.cpus = 0.1
job.run.mem = 32
job.run.disk.value = 0
job.run.maxLaunchDelay = 600
job.run.env["GREETING"] = "hi"
job.run.restart.policy = JobSpec.RunSpec.RestartSpec.NEVER
created = step("create_job", lambda: c.create_job(job))
if created:
    out["created"] = MessageToDict(created)

listed = step("list_jobs", lambda: c.list_jobs(active_runs=True, schedules=True))
out["listed"] = [j.id for j in listed or []]
got = step("get_job", lambda: c.get_job(JOB))
if got:
    out["got"] = {"id": got.id, "description": got.description, "mem": got.run.mem,
                  "cmd": got.run.cmd, "labels": dict(got.labels), "env": dict(got.run.env)}

job.description = "echoes, updated"
job.run.mem = 64
updated = step("update_job", lambda: c.update_job(JOB, job))
if updated:
    out["updated"] = {"description": updated.description, "mem": updated.run.mem}

run = step("run_job", lambda: c.run_job(JOB))
if run:
    out["run"] = {"id": run.id, "jobId": run.jobId, "status": JobRun.Status.Name(run.status)}
    runs = step("list_runs", lambda: c.list_runs(JOB))
    out["listed_runs"] = [r.id for r in runs or []]
    fetched = step("get_run", lambda: c.get_run(JOB, run.id))
    if fetched:
        out["got_run"] = fetched.id
    wait(lambda: history()["successCount"] >= 1, "a successful run in the history")
    h = step("history", history)
    if h:
        out["history"] = {"successCount": h["successCount"],
                          "successful": [r["id"] for r in h["successfulFinishedRuns"]]}
    done = step("get_run after", lambda: c.get_run(JOB, run.id))
    if done:
        out["run_after"] = {"status": JobRun.Status.Name(done.status),
                            "tasks": [JobRun.JobRunTask.Status.Name(t.status) for t in done.tasks]}

# Schedules.
sched = ScheduleSpec()
sched.id = "nightly"
sched.cron = "0 3 * * *"
sched.timezone = "Europe/Berlin"
sched.startingDeadlineSeconds = 120
sched.concurrencyPolicy = ScheduleSpec.ALLOW
added = step("create_schedule", lambda: c.create_schedule(JOB, sched))
if added:
    out["schedule_added"] = {"id": added.id, "cron": added.cron, "timezone": added.timezone,
                             "nextRunAt": added.nextRunAt, "enabled": added.enabled}
out["schedules"] = [s.id for s in step("list_schedules", lambda: c.list_schedules(JOB)) or []]
one = step("get_schedule", lambda: c.get_schedule(JOB, "nightly"))
if one:
    out["schedule_got"] = {"id": one.id, "startingDeadlineSeconds": one.startingDeadlineSeconds}
sched.cron = "30 4 * * 1"
changed = step("update_schedule", lambda: c.update_schedule(JOB, "nightly", sched))
if changed:
    out["schedule_updated"] = changed.cron
try:
    c.create_schedule(JOB, sched)
    out["second_schedule"] = "accepted"
except MetronomeHttpError as e:
    out["second_schedule"] = {"status": e.status_code, "message": e.error_message}
listed_scheduled = step("get_job with schedules", lambda: c.get_job(JOB, schedules=True))
out["get_job_after_schedule"] = listed_scheduled.id if listed_scheduled else None
deleted = step("delete_schedule", lambda: c.delete_schedule(JOB, "nightly"))
out["schedule_deleted"] = deleted.status_code if deleted is not None else None
out["schedules_after"] = [s.id for s in step("list_schedules after", lambda: c.list_schedules(JOB)) or []]

# A run that stays until it is stopped.
job.run.cmd = "sleep 600"
step("update_job to sleep", lambda: c.update_job(JOB, job))
long_run = step("run_job long", lambda: c.run_job(JOB))
if long_run:
    wait(lambda: any(t.status == JobRun.JobRunTask.TASK_RUNNING for t in c.get_run(JOB, long_run.id).tasks),
         "the long run's task running")
    out["long_run_status"] = JobRun.Status.Name(c.get_run(JOB, long_run.id).status)
    out["long_run_active"] = [r.id for r in step("list_runs long", lambda: c.list_runs(JOB)) or []]
    stopped = step("stop_run", lambda: c.stop_run(JOB, long_run.id))
    out["stop_status"] = stopped.status_code if stopped is not None else None
    wait(lambda: history()["failureCount"] >= 1, "the stopped run counted as failed")
    out["failure_count"] = (step("history after stop", history) or {}).get("failureCount")

deleted = step("delete_job", lambda: c.delete_job(JOB))
out["job_deleted"] = deleted.status_code if deleted is not None else None
out["after_delete"] = [j.id for j in step("list_jobs after", lambda: c.list_jobs()) or []]

# Errors.
try:
    c.get_job("no-such-job")
    out["unknown_job"] = "found"
except NotFoundError as e:
    out["unknown_job"] = {"status": e.status_code, "message": e.error_message}
try:
    c.run_job("no-such-job")
    out["unknown_run"] = "started"
except NotFoundError as e:
    out["unknown_run"] = {"status": e.status_code, "message": e.error_message}
bad = JobSpec()
bad.id = "Not_Valid"
bad.run.cmd = "true"
bad.run.cpus = 0.1
bad.run.mem = 8
try:
    c.create_job(bad)
    out["invalid"] = "created"
except MetronomeHttpError as e:
    out["invalid"] = {"status": e.status_code, "message": e.error_message,
                      "paths": sorted(d["path"] for d in e.error_details or [])}

print(json.dumps(out))
