//! The CLI's view of the jobs API: times, tables, history and refusals.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::render::cells;

#[test]
fn metronome_times_read_and_print_in_utc() {
    let t = parse_time("2016-07-15T13:02:59.735+0000").unwrap();
    assert_eq!(t, 1_468_587_779);
    assert_eq!(clock(t), "2016-07-15 13:02:59 UTC");
    assert_eq!(parse_time("2016-07-15T15:02:59+02:00"), Some(t));
    assert_eq!(parse_time("2016-07-15T13:02:59Z"), Some(t));
    assert_eq!(parse_time("1970-01-01T00:00:00.000+0000"), Some(0));
    assert_eq!(
        clock(parse_time("2024-02-29T23:59:59Z").unwrap()),
        "2024-02-29 23:59:59 UTC"
    );
    assert_eq!(parse_time("yesterday"), None);
    assert_eq!(relative(100, 100), "just now");
    assert_eq!(relative(100 + 4 * 3600 + 59 * 60, 100), "in 4h 59m");
    assert_eq!(relative(0, 180), "3m ago");
    assert_eq!(span(2 * 86_400 + 3 * 3600), "2d 3h");
}

#[test]
fn the_jobs_table_says_status_schedule_next_and_last_run() {
    let now = parse_time("2026-03-01T00:00:00Z").unwrap();
    let jobs: Vec<JobView> = serde_json::from_value(json!([
        {"id": "nightly", "run": {"cpus": 0.1, "mem": 32, "disk": 0, "cmd": "backup"},
         "schedules": [{"id": "n", "cron": "0 3 * * *", "timezone": "Europe/Berlin",
                        "nextRunAt": "2026-03-01T02:00:00.000+0000"}],
         "activeRuns": [{"id": "r1", "jobId": "nightly", "status": "ACTIVE", "createdAt": "2026-02-28T23:59:00.000+0000", "completedAt": null, "tasks": []}],
         "historySummary": {"successCount": 4, "failureCount": 1,
                            "lastSuccessAt": "2026-02-28T02:00:10.000+0000",
                            "lastFailureAt": "2026-02-28T23:57:00.000+0000"}},
        {"id": "adhoc", "run": {"cmd": "true"},
         "schedules": [{"id": "s", "cron": "* * * * *", "enabled": false}],
         "activeRuns": [{"id": "r2", "jobId": "adhoc", "status": "INITIAL", "createdAt": "x", "completedAt": null, "tasks": []}],
         "historySummary": {"successCount": 0, "failureCount": 0, "lastSuccessAt": null, "lastFailureAt": null}},
        {"id": "bare", "run": {"cmd": "true"}}
    ]))
    .unwrap();
    assert_eq!(
        cells(&jobs_table(&jobs, now)),
        [
            [
                "nightly",
                "running",
                "0 3 * * * Europe/Berlin",
                "in 2h 0m",
                "failure 3m ago",
                "4",
                "1"
            ],
            [
                "adhoc",
                "queued",
                "* * * * * UTC (disabled)",
                "-",
                "-",
                "0",
                "0"
            ],
            ["bare", "idle", "-", "-", "-", "", ""],
        ]
    );
}

#[test]
fn history_lists_finished_runs_newest_first_and_skips_with_reasons() {
    let now = parse_time("2026-03-01T00:10:00Z").unwrap();
    let h: History = serde_json::from_value(json!({
        "successCount": 1, "failureCount": 1, "lastSuccessAt": null, "lastFailureAt": null,
        "successfulFinishedRuns": [{"id": "a", "createdAt": "2026-03-01T00:00:00.000+0000",
                                    "finishedAt": "2026-03-01T00:00:30.000+0000", "tasks": ["t1"]}],
        "failedFinishedRuns": [{"id": "b", "createdAt": "2026-03-01T00:05:00.000+0000",
                                "finishedAt": "2026-03-01T00:08:00.000+0000", "tasks": ["t2", "t3"]}]
    }))
    .unwrap();
    let runs = finished_runs(Some(&h));
    assert_eq!(
        cells(&history_table(runs.into_iter(), now)),
        [
            [
                "b",
                "FAILED",
                "2026-03-01 00:05:00 UTC",
                "2m ago (took 3m)",
                "2"
            ],
            [
                "a",
                "SUCCESS",
                "2026-03-01 00:00:00 UTC",
                "9m ago (took 30s)",
                "1"
            ],
        ]
    );
    let skipped: Vec<Skipped> = serde_json::from_value(json!([{"scheduleId": "n",
        "dueAt": "2026-02-28T02:00:00.000+0000", "count": 2,
        "reason": "not started: startingDeadlineSeconds (60 s) passed", "recordedAt": "2026-02-28T05:00:00.000+0000"}]))
    .unwrap();
    assert_eq!(
        cells(&skipped_table(&skipped)),
        [[
            "2026-02-28 02:00:00 UTC",
            "n",
            "2",
            "not started: startingDeadlineSeconds (60 s) passed",
            "2026-02-28 05:00:00 UTC"
        ]]
    );
}

fn answer(status: StatusCode, body: Value) -> Answer {
    Answer::json("GET /v1/jobs/x", status, body)
}

#[test]
fn refusals_map_to_the_exit_codes_of_drover_app() {
    let api = Api::new(&JobsArgs {
        jobs: Some("127.0.0.1:9000".into()),
        gateway: None,
        json: false,
    })
    .unwrap();
    let e = api.refused(answer(
        StatusCode::NOT_FOUND,
        json!({"id": "x", "message": "Job not found"}),
    ));
    assert_eq!(e.exit_code(), 3);
    assert_eq!(
        e.to_string(),
        "no job 'x' in the jobs scheduler at 127.0.0.1:9000 (Job not found)"
    );
    let e = api.refused(answer(
        StatusCode::NOT_FOUND,
        json!({"jobSpec": "x", "id": "r1", "message": "Job Run not found"}),
    ));
    assert_eq!(e.exit_code(), 3);
    assert!(e.to_string().starts_with("no run r1 of job 'x'"), "{e}");
    let e = api.refused(answer(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": "Object is not valid", "details": [{"path": "/run/cpus", "errors": ["got 0.001, expected 0.01 or more"]}]}),
    ));
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        "the jobs scheduler at 127.0.0.1:9000 refused GET /v1/jobs/x (422 Unprocessable Entity): Object is not valid\n  /run/cpus: got 0.001, expected 0.01 or more"
    );
    let e = api.refused(answer(
        StatusCode::CONFLICT,
        json!({"message": "Job with this id already exists"}),
    ));
    assert_eq!(e.exit_code(), 4);
    // A 404 that names nothing is not a missing job: the address is wrong.
    let e = api.refused(answer(
        StatusCode::NOT_FOUND,
        json!({"message": "Unknown route.", "requestPath": "/v1/jobs/x"}),
    ));
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("DROVER_JOBS"), "{e}");
}

#[test]
fn the_scheduler_is_found_from_jobs_then_the_gateway() {
    let api = |jobs: Option<&str>, gateway: Option<&str>| {
        Api::new(&JobsArgs {
            jobs: jobs.map(Into::into),
            gateway: gateway.map(Into::into),
            json: false,
        })
        .unwrap()
    };
    assert_eq!(api(None, None).addr(), "127.0.0.1:9000");
    assert_eq!(
        api(None, Some("http://gw:8000/")).addr(),
        "gw:8000/service/metronome"
    );
    assert_eq!(api(Some("j:9000"), Some("http://gw:8000")).addr(), "j:9000");
    assert_eq!(segment("a.b-c"), "a.b-c");
    assert_eq!(segment("a/b c"), "a%2Fb%20c");
}
