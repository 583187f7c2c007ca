//! Several jobs schedulers on a real ZooKeeper (`drover jobs --zk zk://…/jobs`), as processes:
//! one leads (every `/leader` names it; the others answer API requests with a 307 to it), and
//! a job whose cron falls due every minute runs exactly once per due time through two failovers:
//! - the leader killed (-9) two seconds before a minute boundary, so that the occurrence falls
//!   due while nobody leads: the next leader runs it at once (catch-up);
//! - the next leader frozen (SIGSTOP) across a minute boundary for longer than its ZooKeeper
//!   session: a third one takes over and runs the occurrence; thawed, the deposed leader finds
//!   its writes fenced and launches nothing.
//!
//! Each task appends `$DROVER_JOB_DUE $MESOS_TASK_ID <start time>` to a file: the checker wants
//! one line per due time, none missing.

mod common;
use common::ha::*;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The jobs schedulers' ZooKeeper session: a killed leader is replaced about this long after.
const JOBS_SESSION_SECS: &str = "4";

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-12-04T12:42:00Z`, fraction allowed).
fn rfc3339(t: &str) -> Option<f64> {
    let t = t.strip_suffix('Z')?;
    let num = |a: usize, b: usize| t.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi) = (num(11, 13)?, num(14, 16)?);
    let s: f64 = t.get(17..)?.parse().ok()?;
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86400 + h * 3600 + mi * 60) as f64 + s)
}

/// One scheduler: its process (None once killed), its address and log.
struct Sched {
    proc: Option<Proc>,
    addr: String,
    log: std::path::PathBuf,
}

fn start_jobs(c: &HaCluster, n: usize) -> Sched {
    let work = c.dir.path().join(format!("jobs{n}-work"));
    let log = c.dir.path().join(format!("jobs{n}.log"));
    let (mesos, zk) = (c.mesos_url(), c.zk.url("/jobs"));
    let proc = Proc::spawn(
        &[
            "jobs",
            "--master",
            &mesos,
            "--zk",
            &zk,
            "--zk-session-timeout",
            JOBS_SESSION_SECS,
            "--work-dir",
            work.to_str().unwrap(),
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
        ],
        &log,
    );
    let line = proc.wait_line("jobs: http://", Duration::from_secs(30));
    Sched {
        proc: Some(proc),
        addr: word_after(&line, "http://"),
        log,
    }
}

fn leader_of(addr: &str) -> Option<String> {
    get_json(&format!("http://{addr}/leader"))?["leader"]
        .as_str()
        .map(String::from)
}

/// The leader every live scheduler names, once they all agree.
fn agreed_leader(scheds: &[Sched], within: Duration, c: &HaCluster) -> String {
    let deadline = Instant::now() + within;
    loop {
        let live: Vec<&Sched> = scheds.iter().filter(|s| s.proc.is_some()).collect();
        let named: Vec<Option<String>> = live.iter().map(|s| leader_of(&s.addr)).collect();
        if let Some(Some(l)) = named.first() {
            if named.iter().all(|n| n.as_deref() == Some(l.as_str()))
                && live.iter().any(|s| s.addr == *l)
            {
                return l.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the jobs schedulers did not agree on a leader within {within:?}: {named:?}\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// curl without following redirects: (status, lower-cased headers, body).
fn req(method: &str, url: &str, body: Option<&Value>, follow: bool) -> (u16, String, Value) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "-D", "-", "-X", method, "--max-time", "20", url]);
    if follow {
        cmd.arg("-L");
    }
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // With -L the headers of every hop come first: the body follows the last blank line.
    let (head, body) = text.rsplit_once("\r\n\r\n").unwrap_or((&text, ""));
    let last_head = head.rsplit("\r\n\r\n").next().unwrap_or(head);
    let code = last_head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        code,
        head.to_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// Sleep until the wall clock is `sec` seconds into a minute, at least `min_wait` from now.
/// Returns the minute boundary that follows (Unix seconds).
fn sleep_until_second(sec: f64, min_wait: f64) -> f64 {
    let now = unix_now();
    let mut minute = (now / 60.0).floor() * 60.0;
    while minute + sec < now + min_wait {
        minute += 60.0;
    }
    std::thread::sleep(Duration::from_secs_f64(minute + sec - now));
    minute + 60.0
}

/// The runs file: due time → [(task id, start time)], in the order written.
fn read_runs(path: &std::path::Path) -> BTreeMap<i64, Vec<(String, f64)>> {
    let mut out: BTreeMap<i64, Vec<(String, f64)>> = BTreeMap::new();
    for l in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(due), Some(task), Some(at)) = (
            f.first().and_then(|d| rfc3339(d)),
            f.get(1),
            f.get(2).and_then(|t| t.parse::<f64>().ok()),
        ) else {
            panic!("an unreadable line in {}: {l:?}", path.display());
        };
        out.entry(due as i64)
            .or_default()
            .push((task.to_string(), at));
    }
    out
}

/// Wait for a start line of due time `due`; returns its start time.
fn wait_run(path: &std::path::Path, due: f64, within: Duration, c: &HaCluster) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = read_runs(path).get(&(due as i64)) {
            return v[0].1;
        }
        assert!(
            Instant::now() < deadline,
            "no run of the occurrence due at {due} within {within:?}\nruns: {}\n{}",
            std::fs::read_to_string(path).unwrap_or_default(),
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn jobs_schedulers_elect_a_leader_and_run_every_due_occurrence_once_across_failovers() {
    if !zookeeper_or_skip() {
        return;
    }
    let c = HaCluster::start(1, 2, 1);
    c.wait_leader(Duration::from_secs(30));
    c.wait_agents(1, Duration::from_secs(30));
    let mut scheds: Vec<Sched> = (0..3).map(|n| start_jobs(&c, n)).collect();
    let leader = agreed_leader(&scheds, Duration::from_secs(30), &c);
    let follower = scheds
        .iter()
        .find(|s| s.addr != leader)
        .unwrap()
        .addr
        .clone();

    // Followers send API requests to the leader: a 307, which keeps the method and body.
    let (code, head, _) = req("GET", &format!("http://{follower}/v1/jobs"), None, false);
    assert_eq!(code, 307, "{head}");
    assert!(
        head.contains(&format!("location: http://{leader}/v1/jobs")),
        "{head}"
    );
    let runs = c.dir.path().join("runs.txt");
    let cmd = format!(
        "echo \"$DROVER_JOB_DUE $MESOS_TASK_ID $(date +%s.%N)\" >> {}; sleep 1",
        runs.display()
    );
    let job = json!({
        "id": "tick",
        "run": {"cpus": 0.1, "mem": 32, "disk": 0, "cmd": cmd},
        "schedules": [{"id": "every-minute", "cron": "* * * * *", "timezone": "UTC",
                       "startingDeadlineSeconds": 120}],
    });
    let (code, head, body) = req(
        "POST",
        &format!("http://{follower}/v1/jobs"),
        Some(&job),
        true,
    );
    assert_eq!(code, 201, "created through a follower: {head}\n{body:#}");
    assert!(head.contains(" 307 "), "redirected: {head}");
    let created = unix_now();
    let first_due = (created / 60.0).floor() * 60.0 + 60.0;

    // 1. The leader killed 2 s before a minute boundary: nobody leads when it falls due.
    let due1 = sleep_until_second(58.0, 10.0);
    let li = scheds.iter().position(|s| s.addr == leader).unwrap();
    scheds[li].proc.take().unwrap().kill9();
    let killed = unix_now();
    eprintln!(
        "jobs_ha: killed the leader {leader} at {killed:.3}; {due1} falls due while nobody leads"
    );
    let leader2 = agreed_leader(&scheds, Duration::from_secs(30), &c);
    let elected2 = unix_now();
    assert_ne!(leader2, leader);
    let started = wait_run(&runs, due1, Duration::from_secs(60), &c);
    eprintln!(
        "jobs_ha: {leader2} leads (seen at {elected2:.3}, {:.1} s after the kill); the occurrence due at {due1} started {:.3} s after its due time",
        elected2 - killed,
        started - due1
    );
    assert!(
        started >= due1 && started - due1 < 30.0,
        "the new leader runs an occurrence that fell due meanwhile at once: started {:.3} s after {due1}\n{}",
        started - due1,
        c.logs()
    );
    // The followers now point at the new leader.
    let other = scheds
        .iter()
        .find(|s| s.proc.is_some() && s.addr != leader2)
        .unwrap()
        .addr
        .clone();
    let (code, head, _) = req("GET", &format!("http://{other}/v1/jobs/tick"), None, false);
    assert_eq!(code, 307, "{head}");
    assert!(
        head.contains(&format!("location: http://{leader2}/v1/jobs/tick")),
        "{head}"
    );

    // 2. The new leader frozen across the next minute boundary, for longer than its session:
    // the third scheduler leads and runs the occurrence; thawed, the old leader is fenced.
    let due2 = sleep_until_second(52.0, 5.0);
    let l2 = scheds.iter().position(|s| s.addr == leader2).unwrap();
    let frozen_log_len = std::fs::metadata(&scheds[l2].log)
        .map(|m| m.len())
        .unwrap_or(0);
    scheds[l2].proc.as_ref().unwrap().signal(19); // SIGSTOP
    let frozen = unix_now();
    eprintln!("jobs_ha: froze the leader {leader2} at {frozen:.3}, over {due2}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader3 = loop {
        if let Some(l) = leader_of(&other).filter(|l| *l != leader2) {
            if leader_of(&l).as_deref() == Some(l.as_str()) {
                break l;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new leader while {leader2} is frozen\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "jobs_ha: {leader3} leads {:.1} s after the freeze",
        unix_now() - frozen
    );
    let started2 = wait_run(&runs, due2, Duration::from_secs(60), &c);
    // Thawed after the occurrence ran (the old leader still believes it has it to run).
    let thaw_at = (due2 + 6.0).max(started2 + 1.0);
    std::thread::sleep(Duration::from_secs_f64((thaw_at - unix_now()).max(0.0)));
    scheds[l2].proc.as_ref().unwrap().signal(18); // SIGCONT
    eprintln!(
        "jobs_ha: thawed {leader2} at {:.3} (frozen {:.1} s); the occurrence due at {due2} started {:.3} s after its due time",
        unix_now(),
        unix_now() - frozen,
        started2 - due2
    );
    wait_for(Duration::from_secs(30), || {
        leader_of(&leader2).as_deref() == Some(leader3.as_str())
    });
    let thawed_log = std::fs::read_to_string(&scheds[l2].log).unwrap_or_default();
    let after = thawed_log
        .get(frozen_log_len as usize..)
        .unwrap_or_default()
        .to_string();
    eprintln!("jobs_ha: the deposed leader's log after the thaw:\n{after}");

    // 3. One more occurrence with the deposed leader back as a follower.
    let due3 = due2 + 60.0;
    wait_run(&runs, due3, Duration::from_secs(90), &c);
    // Room for a late second start of any of them.
    std::thread::sleep(Duration::from_secs(15));

    let all = read_runs(&runs);
    let mut problems = Vec::new();
    let mut due = first_due;
    while due <= due3 {
        match all.get(&(due as i64)).map(|v| v.len()) {
            Some(1) => {}
            None => problems.push(format!("the occurrence due at {due} never ran")),
            Some(n) => problems.push(format!(
                "the occurrence due at {due} ran {n} times: {:?}",
                all[&(due as i64)]
            )),
        }
        due += 60.0;
    }
    for d in all.keys() {
        if (*d as f64) < first_due || (*d as f64) > due3 + 60.0 || d % 60 != 0 {
            problems.push(format!("a run for a time that was not due: {d}"));
        }
    }
    let lags: Vec<String> = all
        .iter()
        .map(|(d, v)| format!("{d}: +{:.2}s", v[0].1 - *d as f64))
        .collect();
    eprintln!("jobs_ha: start lags {lags:?}");
    // Nothing skipped (every occurrence was within its deadline), one framework at the master.
    let (code, skipped) = call(
        "GET",
        &format!("http://{leader3}/v1/jobs/tick/skipped"),
        None,
    );
    assert_eq!(code, 200, "{skipped}");
    if skipped.as_array().is_some_and(|a| !a.is_empty()) {
        problems.push(format!("occurrences skipped: {skipped}"));
    }
    let m = c.leader().expect("a leading master");
    let state = get_json(&format!("http://{}/master/state", c.addr(m))).unwrap_or_default();
    let frameworks: Vec<&Value> = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == "metronome")
        .collect();
    if frameworks.len() != 1 {
        problems.push(format!(
            "{} frameworks named metronome at the master (a new leader takes over the old one's id)",
            frameworks.len()
        ));
    }
    assert!(
        problems.is_empty(),
        "{problems:#?}\nruns:\n{}\n{}",
        std::fs::read_to_string(&runs).unwrap_or_default(),
        c.logs()
    );
    for s in &mut scheds {
        if let Some(mut p) = s.proc.take() {
            p.stop();
        }
    }
}
