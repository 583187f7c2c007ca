//! The jobs scheduler's chaos test: every due run exactly once, even across failovers, on the
//! multi-host Docker cluster (3 ZooKeeper servers, 3 masters, 3 `drover jobs --zk` schedulers,
//! 4 agents, each a container; see common/hadocker.rs).
//!
//! 24 jobs fall due every minute or so: 20 on `* * * * *` (UTC) and 4 in other zones
//! (`America/New_York` by the hour, one of them never due in the window; `*/7` in
//! `Asia/Kolkata` and `*/4` in `Asia/Kathmandu`, whose offsets are not whole hours), each with
//! `startingDeadlineSeconds` 120 and a command that appends a start line —
//! `job due task-id host start-time` — to a host directory bind-mounted into every agent, then
//! sleeps 1-5 s. For `JOBS_CHAOS_SECS` (default 300) a fault injector — seeded
//! (`JOBS_CHAOS_SEED`, printed), every fault logged — kills and restarts jobs schedulers (most
//! often the leader), freezes the leader (`docker pause`), cuts it off ZooKeeper or off the
//! masters (iptables in its network namespace), and kills masters, agents (their running tasks
//! die with them) and a ZooKeeper server, every 3-8 s; and once a minute it aims a fault at the
//! due time, where launches, their writes and status updates are in flight: the leader killed
//! just before it, frozen or cut off ZooKeeper across it, the leading master killed at it, or
//! the leader killed as it launches and then an agent mid-run that comes back at once.
//! `JOBS_CHAOS_SKIP` (comma-separated names as printed, e.g. `kill master`) leaves kinds out.
//! Then it heals, waits past the last deadline, and checks the start lines against the due
//! times computed from the cron expressions (zones through the host's `date` and tzdata, not
//! the scheduler's code) in [start + 60 s, end - 150 s]:
//! - no occurrence missed, none started twice (two start lines of one job and due time, whatever
//!   their task ids), none started that was not due, none started before its due time.
//!
//! It prints the seed, the faults per kind, the occurrences checked, the start lag (start time −
//! due time) p50/p99/max, and each violation with its evidence (the start lines, the runs the
//! scheduler recorded, the schedulers' and masters' log lines about them); on a violation every
//! node's whole log, the start lines and the fault log are kept in `$TMPDIR/jobs-chaos-<seed>/`.
//! Runs that started on an agent that was killed mid-run count as started (the line is written
//! at start). Repeat a failing run with its seed (the faults, not their timing):
//! `JOBS_CHAOS_SEED=<seed> cargo nextest run -p drover --test jobs_chaos`.

mod common;
use common::hadocker::*;
use common::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

/// xorshift64*: the fault schedule, repeatable from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.below(1_000_000) as f64 / 1_000_000.0)
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.frac]Z` (or with a space for the `T`).
fn utc_secs(t: &str) -> Option<f64> {
    let t = t.strip_suffix('Z').unwrap_or(t);
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

/// `HH:MM:SS.mmm` UTC of a Unix time, for the fault log.
fn hms(t: f64) -> String {
    let s = t.rem_euclid(86400.0);
    format!(
        "{:02}:{:02}:{:06.3}",
        (s / 3600.0) as u32,
        ((s % 3600.0) / 60.0) as u32,
        s % 60.0
    )
}

/// (local hour, local minute) of the minute starting at `t` in `zone`, from the host's `date`
/// and tzdata: an oracle independent of the scheduler's own cron code.
fn local_hm(zone: &str, t: i64, cache: &mut HashMap<(String, i64), (u32, u32)>) -> (u32, u32) {
    if zone == "UTC" {
        return (((t / 3600) % 24) as u32, ((t / 60) % 60) as u32);
    }
    if let Some(v) = cache.get(&(zone.to_string(), t)) {
        return *v;
    }
    let out = Command::new("date")
        .env("TZ", zone)
        .args(["-d", &format!("@{t}"), "+%H %M"])
        .output()
        .expect("date");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|x| x.parse::<u32>().unwrap());
    let v = (it.next().unwrap(), it.next().unwrap());
    assert!(
        std::path::Path::new("/usr/share/zoneinfo")
            .join(zone)
            .exists(),
        "the checker needs the host's tzdata for {zone}"
    );
    cache.insert((zone.to_string(), t), v);
    v
}

/// One cron field of the forms this test uses: `*`, `*/n`, `a`, `a,b`.
fn field_matches(f: &str, v: u32) -> bool {
    f.split(',').any(|p| {
        if p == "*" {
            true
        } else if let Some(n) = p.strip_prefix("*/") {
            v % n.parse::<u32>().unwrap() == 0
        } else {
            p.parse::<u32>().unwrap() == v
        }
    })
}

struct JobDef {
    id: String,
    /// `minute hour * * *`.
    cron: String,
    zone: String,
    sleep: u32,
}

impl JobDef {
    fn due_at(&self, t: i64, cache: &mut HashMap<(String, i64), (u32, u32)>) -> bool {
        let f: Vec<&str> = self.cron.split_whitespace().collect();
        let (h, m) = local_hm(&self.zone, t, cache);
        t % 60 == 0 && field_matches(f[0], m) && field_matches(f[1], h)
    }
    /// Due times in [a, b].
    fn dues(&self, a: f64, b: f64, cache: &mut HashMap<(String, i64), (u32, u32)>) -> Vec<i64> {
        let mut t = (a / 60.0).ceil() as i64 * 60;
        let mut out = Vec::new();
        while (t as f64) <= b {
            if self.due_at(t, cache) {
                out.push(t);
            }
            t += 60;
        }
        out
    }
}

/// A start line: `job due task host YYYY-MM-DD HH:MM:SS.nnnnnnnnn +0000`.
#[derive(Clone, Debug)]
struct Start {
    job: String,
    due: i64,
    task: String,
    host: String,
    at: f64,
    line: String,
}

fn read_starts(path: &std::path::Path) -> (Vec<Start>, Vec<String>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for l in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let parsed = (|| {
            if f.len() != 7 || f[6] != "+0000" {
                return None;
            }
            Some(Start {
                job: f[0].to_string(),
                due: utc_secs(f[1])? as i64,
                task: f[2].to_string(),
                host: f[3].to_string(),
                at: utc_secs(&format!("{}T{}", f[4], f[5]))?,
                line: l.to_string(),
            })
        })();
        match parsed {
            Some(s) => out.push(s),
            None => bad.push(l.to_string()),
        }
    }
    (out, bad)
}

/// The run id in a task id `<job>_<runId>.<attempt>`.
fn run_of(task: &str) -> &str {
    let rest = task.split_once('_').map(|x| x.1).unwrap_or(task);
    rest.rsplit_once('.').map(|x| x.0).unwrap_or(rest)
}

/// The jobs leader and the leading master as last seen, kept current by a thread that asks
/// every 200 ms with short timeouts (a fault aimed at a due time must not wait for a frozen
/// node's answer).
struct Watch {
    seen: std::sync::Arc<std::sync::Mutex<(Option<String>, Option<String>)>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn quick_get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "1", "-w", "\n%{http_code}", url])
        .output();
    let Ok(out) = out else {
        return (0, String::new());
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

impl Watch {
    fn start(jobs: &[Node], masters: &[Node]) -> Watch {
        let w = Watch {
            seen: Default::default(),
            stop: Default::default(),
        };
        let (seen, stop) = (w.seen.clone(), w.stop.clone());
        let jobs: Vec<String> = jobs.iter().map(|n| n.addr()).collect();
        let masters: Vec<String> = masters.iter().map(|n| n.addr()).collect();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                // The leader most schedulers name.
                let mut named: BTreeMap<String, usize> = BTreeMap::new();
                for a in &jobs {
                    let (code, body) = quick_get(&format!("http://{a}/leader"));
                    if let Some(l) = (code == 200)
                        .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
                        .flatten()
                        .and_then(|v| v["leader"].as_str().map(String::from))
                    {
                        *named.entry(l).or_default() += 1;
                    }
                }
                let jl = named.into_iter().max_by_key(|(_, n)| *n).map(|(l, _)| l);
                let ml = masters
                    .iter()
                    .find(|m| quick_get(&format!("http://{m}/master/state-summary")).0 == 200);
                {
                    let mut s = seen.lock().unwrap();
                    if jl.is_some() {
                        s.0 = jl;
                    }
                    if ml.is_some() {
                        s.1 = ml.cloned();
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        w
    }
    fn jobs_leader(&self) -> Option<String> {
        self.seen.lock().unwrap().0.clone()
    }
    fn leading_master(&self) -> Option<String> {
        self.seen.lock().unwrap().1.clone()
    }
    fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What ends a fault (or, `Kill`, a second fault that follows the first).
enum Undo {
    Restart(Node),
    Unpause(Node),
    Unblock(Node),
    /// Kill this node then, and start it again so much later.
    Kill(Node, Duration),
}

impl Undo {
    fn node(&self) -> &Node {
        match self {
            Undo::Restart(n) | Undo::Unpause(n) | Undo::Unblock(n) | Undo::Kill(n, _) => n,
        }
    }
    fn apply(&self, c: &HaDocker) -> String {
        match self {
            Undo::Kill(n, _) => format!("(the kill of {} not made: healing)", n.container),
            Undo::Restart(n) => {
                c.start_again(n);
                format!("restart {}", n.container)
            }
            Undo::Unpause(n) => {
                c.unpause(n);
                format!("thaw {}", n.container)
            }
            Undo::Unblock(n) => {
                c.unblock(n);
                format!("heal {}", n.container)
            }
        }
    }
}

fn short(n: &Node) -> String {
    format!("{:?}-{}", n.kind, n.index).to_lowercase()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[test]
fn jobs_chaos_every_due_run_exactly_once() {
    if !common::ha::zookeeper_or_skip() {
        return;
    }
    let seed: u64 = std::env::var("JOBS_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| (unix_now() * 1e6) as u64 | 1);
    let secs: u64 = std::env::var("JOBS_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    // Kinds of fault left out (names as printed, or part of them), e.g. `kill master`.
    let skip: Vec<String> = std::env::var("JOBS_CHAOS_SKIP")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    eprintln!("jobs chaos: seed {seed} ({secs} s of faults); repeat with JOBS_CHAOS_SEED={seed}");
    if !skip.is_empty() {
        eprintln!("jobs chaos: left out (JOBS_CHAOS_SKIP): {skip:?}");
    }
    let shared = tempfile::tempdir().unwrap();
    let starts_path = shared.path().join("starts.log");
    std::fs::write(&starts_path, "").unwrap();
    let mut opts = Options::new(4);
    opts.marathons = 0;
    opts.jobs = 3;
    opts.agent_binds = vec![format!("{}:/shared", shared.path().display())];
    let c = HaDocker::start_with(opts);

    // ----- the jobs -----
    let t_jobs = unix_now();
    let mut cache = HashMap::new();
    let mid = (t_jobs + 60.0 + secs as f64 / 2.0) as i64 / 60 * 60;
    let (ny_hour, _) = local_hm("America/New_York", mid, &mut cache);
    let (utc_hour, _) = local_hm("UTC", mid, &mut cache);
    let mut defs: Vec<JobDef> = (0..20)
        .map(|i| JobDef {
            id: format!("c{i:02}"),
            cron: "* * * * *".into(),
            zone: "UTC".into(),
            sleep: 1 + i % 5,
        })
        .collect();
    for (id, cron, zone) in [
        ("ny-now", format!("* {ny_hour} * * *"), "America/New_York"),
        // The UTC hour in New York's zone: not due in the window (unless the zone is ignored).
        (
            "ny-utc-hour",
            format!("* {utc_hour} * * *"),
            "America/New_York",
        ),
        ("kolkata-7", "*/7 * * * *".into(), "Asia/Kolkata"),
        ("kathmandu-4", "*/4 * * * *".into(), "Asia/Kathmandu"),
    ] {
        defs.push(JobDef {
            id: id.into(),
            cron,
            zone: zone.into(),
            sleep: 2,
        });
    }
    let leader = c.jobs_leader().expect("a jobs leader");
    for d in &defs {
        let cmd = format!(
            "touch .start; echo \"$DROVER_JOB_ID $DROVER_JOB_DUE $MESOS_TASK_ID $(hostname) $(stat -c %y .start)\" >> /shared/starts.log; sleep {}",
            d.sleep
        );
        let job = json!({
            "id": d.id,
            "run": {"cpus": 0.1, "mem": 32, "disk": 0, "cmd": cmd},
            "schedules": [{"id": "s", "cron": d.cron, "timezone": d.zone, "startingDeadlineSeconds": 120}],
        });
        let (code, body) = call_within("POST", &format!("http://{leader}/v1/jobs"), Some(&job), 20);
        assert!(code == 201, "creating job {}: {code} {body}", d.id);
    }
    eprintln!(
        "jobs chaos: {} jobs created through {leader} at {} (New York hour {ny_hour}, UTC hour {utc_hour})",
        defs.len(),
        hms(t_jobs)
    );

    // ----- faults -----
    let mut rng = Rng(seed);
    let mut faults: BTreeMap<&str, u32> = BTreeMap::new();
    let mut pending: Vec<(Instant, Vec<Undo>)> = Vec::new();
    let t0 = Instant::now();
    let mut next_fault = t0 + Duration::from_secs(5);
    // Besides them, one fault a minute aimed at the due time, where launches, their writes
    // and status updates are in flight: the leader killed a few seconds before (the next one
    // catches up), frozen or cut off ZooKeeper across it (fenced), the leading master killed
    // at it, or (`COMBO`) the leader killed as it launches and an agent killed mid-run that
    // comes back at once (the next leader finds launched runs it does not know started, whose
    // tasks the master has as ended). Returns when, and which fault (a `roll` below).
    const COMBO: u64 = 100;
    let mut aimed_boundary = (unix_now() / 60.0).ceil() * 60.0;
    let aim = |boundary: f64, rng: &mut Rng| {
        let kind = [0, 40, 52, 70, COMBO, COMBO][rng.below(6) as usize];
        let (lo, hi) = match kind {
            0 => (-4.0, -0.5),
            40 => (-3.0, -0.5),
            52 => (-3.0, 0.0),
            70 => (-1.0, 1.0),
            _ => (0.1, 0.6),
        };
        let wall = boundary + rng.between(lo, hi);
        (
            Instant::now() + Duration::from_secs_f64((wall - unix_now()).max(0.0)),
            kind,
        )
    };
    let (mut next_aimed, mut aimed_kind) = aim(aimed_boundary, &mut rng);
    let fault_log = std::cell::RefCell::new(Vec::<String>::new());
    let log = |what: String| {
        let line = format!(
            "jobs chaos: [{:>5.1}s {}] {what}",
            t0.elapsed().as_secs_f64(),
            hms(unix_now())
        );
        eprintln!("{line}");
        fault_log.borrow_mut().push(line);
    };
    let jobs_nodes: Vec<Node> = c.of(Kind::Jobs).into_iter().cloned().collect();
    let zks: Vec<Node> = c.of(Kind::Zk).into_iter().cloned().collect();
    let masters: Vec<Node> = c.of(Kind::Master).into_iter().cloned().collect();
    let watch = Watch::start(&jobs_nodes, &masters);
    while t0.elapsed() < Duration::from_secs(secs) {
        let now = Instant::now();
        let (ready, rest): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(due, _)| *due <= now);
        pending = rest;
        for u in ready.into_iter().flat_map(|(_, u)| u) {
            match u {
                Undo::Kill(n, back) => {
                    log(format!(
                        "kill -9 agent {} mid-run (its tasks with it) for {back:.1?}",
                        short(&n)
                    ));
                    c.kill(&n);
                    *faults.entry("kill agent mid-run").or_default() += 1;
                    pending.push((now + back, vec![Undo::Restart(n)]));
                }
                u => log(u.apply(&c)),
            }
        }
        let mut aimed = now >= next_aimed;
        if aimed && unix_now() - aimed_boundary > 8.0 {
            // Its moment passed (the loop was held up): aim at the next due time instead.
            aimed = false;
            aimed_boundary = (unix_now() / 60.0).ceil() * 60.0;
            (next_aimed, aimed_kind) = aim(aimed_boundary, &mut rng);
        }
        if now >= next_fault || aimed {
            let busy: BTreeSet<String> = pending
                .iter()
                .flat_map(|(_, u)| u.iter().map(|u| u.node().container.clone()))
                .collect();
            let free = |n: &Node| !busy.contains(&n.container);
            let leader_node = || {
                let l = watch.jobs_leader()?;
                jobs_nodes.iter().find(|n| n.addr() == l).cloned()
            };
            let pick = |rng: &mut Rng, v: Vec<Node>| -> Option<Node> {
                let v: Vec<Node> = v.into_iter().filter(free).collect();
                (!v.is_empty()).then(|| v[rng.below(v.len() as u64) as usize].clone())
            };
            // An aimed fault is about the leader (killed, frozen, cut off ZooKeeper) or the
            // leading master.
            if aimed {
                log(format!(
                    "a fault aimed at the due time {} ({:+.2} s):",
                    hms(aimed_boundary),
                    unix_now() - aimed_boundary
                ));
            }
            let roll = if aimed { aimed_kind } else { rng.below(100) };
            // Seconds since the last minute boundary: just after one, the leader has launched
            // its tasks and may not have recorded them running yet.
            let into_minute = unix_now().rem_euclid(60.0);
            let back = Duration::from_secs_f64(rng.between(3.0, 9.0));
            // Across a due time, longer than the ZooKeeper session (4 s).
            let long = Duration::from_secs_f64(if aimed {
                rng.between(5.0, 12.0)
            } else {
                rng.between(2.0, 12.0)
            });
            let name = match roll {
                r @ (COMBO | 0..=29) if r == COMBO || into_minute < 3.0 => {
                    "kill jobs leader after a due time"
                }
                0..=29 => "kill jobs leader",
                30..=39 => "kill jobs scheduler",
                40..=51 => "freeze jobs leader",
                52..=63 => "cut a jobs scheduler off ZooKeeper",
                64..=69 => "cut a jobs scheduler off the masters",
                70..=81 => "kill master",
                82..=93 => "kill agent",
                _ => "kill zookeeper",
            };
            let roll = if skip.iter().any(|s| name.contains(s.as_str())) {
                u64::MAX
            } else {
                roll
            };
            match roll {
                u64::MAX => {}
                r @ (COMBO | 0..=29) if r == COMBO || into_minute < 3.0 => {
                    // The leader killed just after a due time, then an agent mid-run: the next
                    // leader finds runs launched but not known to be running, whose tasks the
                    // master now has as ended.
                    let agents: Vec<Node> = c.of(Kind::Agent).into_iter().cloned().collect();
                    if let (Some(n), Some(a)) = (leader_node().filter(free), pick(&mut rng, agents))
                    {
                        log(format!(
                            "kill jobs leader after a due time: kill -9 {} ({into_minute:.2} s into the minute) for {back:.1?}, then agent {}",
                            short(&n),
                            short(&a)
                        ));
                        c.kill(&n);
                        *faults
                            .entry("kill jobs leader after a due time")
                            .or_default() += 1;
                        pending.push((now + back, vec![Undo::Restart(n)]));
                        let later = Duration::from_secs_f64(rng.between(0.5, 1.5));
                        let agent_back = Duration::from_secs_f64(rng.between(1.0, 2.5));
                        pending.push((now + later, vec![Undo::Kill(a, agent_back)]));
                    }
                }
                0..=29 | 30..=39 => {
                    let n = if roll < 30 {
                        leader_node().filter(free)
                    } else {
                        pick(&mut rng, jobs_nodes.clone())
                    };
                    if let Some(n) = n {
                        let kind = if roll < 30 {
                            "kill jobs leader"
                        } else {
                            "kill jobs scheduler"
                        };
                        log(format!("{kind}: kill -9 {} for {back:.1?}", short(&n)));
                        c.kill(&n);
                        *faults.entry(kind).or_default() += 1;
                        pending.push((now + back, vec![Undo::Restart(n)]));
                    }
                }
                40..=51 => {
                    if let Some(n) = leader_node().filter(free) {
                        log(format!(
                            "freeze the jobs leader {} for {long:.1?}",
                            short(&n)
                        ));
                        c.pause(&n);
                        *faults.entry("freeze jobs leader").or_default() += 1;
                        pending.push((now + long, vec![Undo::Unpause(n)]));
                    }
                }
                52..=63 | 64..=69 => {
                    let n = if rng.below(4) == 0 {
                        pick(&mut rng, jobs_nodes.clone())
                    } else {
                        leader_node().filter(free)
                    };
                    if let Some(n) = n {
                        let (kind, others, dur) = if roll < 64 {
                            ("cut a jobs scheduler off ZooKeeper", &zks, long)
                        } else {
                            ("cut a jobs scheduler off the masters", &masters, back)
                        };
                        let others: Vec<&Node> = others.iter().collect();
                        log(format!("{kind}: {} for {dur:.1?}", short(&n)));
                        assert!(
                            c.block(&n, &others),
                            "jobs chaos: iptables through nsenter failed (root, iptables and nsenter are needed)"
                        );
                        *faults.entry(kind).or_default() += 1;
                        pending.push((now + dur, vec![Undo::Unblock(n)]));
                    }
                }
                70..=81 => {
                    let leading = watch.leading_master();
                    let n = if rng.below(2) == 0 {
                        masters
                            .iter()
                            .find(|m| Some(m.addr()) == leading)
                            .cloned()
                            .filter(free)
                    } else {
                        pick(&mut rng, masters.clone())
                    };
                    if let Some(n) = n {
                        log(format!("kill -9 master {} for {back:.1?}", short(&n)));
                        c.kill(&n);
                        *faults.entry("kill master").or_default() += 1;
                        pending.push((now + back, vec![Undo::Restart(n)]));
                    }
                }
                82..=93 => {
                    let agents: Vec<Node> = c.of(Kind::Agent).into_iter().cloned().collect();
                    if let Some(n) = pick(&mut rng, agents) {
                        log(format!(
                            "kill -9 agent {} (its tasks with it) for {back:.1?}",
                            short(&n)
                        ));
                        c.kill(&n);
                        *faults.entry("kill agent").or_default() += 1;
                        pending.push((now + back, vec![Undo::Restart(n)]));
                    }
                }
                _ => {
                    let zk_down = pending.iter().any(|(_, u)| {
                        u.iter()
                            .any(|u| matches!(u, Undo::Restart(n) if n.kind == Kind::Zk))
                    });
                    if !zk_down {
                        if let Some(n) = pick(&mut rng, zks.clone()) {
                            log(format!("kill -9 zookeeper {} for {back:.1?}", short(&n)));
                            c.kill(&n);
                            *faults.entry("kill zookeeper").or_default() += 1;
                            pending.push((now + back, vec![Undo::Restart(n)]));
                        }
                    }
                }
            }
            if aimed {
                aimed_boundary += 60.0;
                (next_aimed, aimed_kind) = aim(aimed_boundary, &mut rng);
            } else {
                next_fault = Instant::now() + Duration::from_secs_f64(rng.between(3.0, 8.0));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    watch.stop();
    // ----- heal -----
    for (_, undo) in pending.drain(..) {
        for u in undo {
            log(u.apply(&c));
        }
    }
    let faults_end = unix_now();
    eprintln!(
        "jobs chaos: faults stopped at {}; healing, then waiting past the last deadline",
        hms(faults_end)
    );
    c.wait(
        Duration::from_secs(180),
        "a leading master with 4 agents and a jobs leader",
        |c| {
            c.leading_master()
                .is_some_and(|m| c.connected_agents(&m) == 4)
                && c.jobs_leader().is_some()
        },
    );
    let wait_until = faults_end + 150.0;
    std::thread::sleep(Duration::from_secs_f64((wait_until - unix_now()).max(0.0)));
    let end = unix_now();
    let leader = c.jobs_leader().unwrap_or_default();

    // ----- check -----
    let (starts, unreadable) = read_starts(&starts_path);
    let (from, to) = (t_jobs + 60.0, end - 150.0);
    let mut violations: Vec<String> = Vec::new();
    // Occurrences to show evidence for.
    let mut suspects: Vec<(String, i64)> = Vec::new();
    for l in &unreadable {
        violations.push(format!("an unreadable start line: {l:?}"));
    }
    let mut by_occ: BTreeMap<(String, i64), Vec<&Start>> = BTreeMap::new();
    for s in &starts {
        by_occ.entry((s.job.clone(), s.due)).or_default().push(s);
    }
    let defs_by_id: HashMap<&str, &JobDef> = defs.iter().map(|d| (d.id.as_str(), d)).collect();
    // Duplicates and starts that were not due: every line, in or out of the window.
    for ((job, due), v) in &by_occ {
        let Some(d) = defs_by_id.get(job.as_str()) else {
            violations.push(format!("a start of an unknown job: {:?}", v[0].line));
            continue;
        };
        if !d.due_at(*due, &mut cache) || (*due as f64) < t_jobs {
            violations.push(format!(
                "{job}: started for {} ({due}), which is not a due time of {:?} in {}",
                hms(*due as f64),
                d.cron,
                d.zone
            ));
            suspects.push((job.clone(), *due));
        }
        if v.len() > 1 {
            violations.push(format!(
                "{job}: the occurrence due at {} ({due}) started {} times: {:?}",
                hms(*due as f64),
                v.len(),
                v.iter()
                    .map(|s| format!("{} on {} at {}", s.task, s.host, hms(s.at)))
                    .collect::<Vec<_>>()
            ));
            suspects.push((job.clone(), *due));
        }
        for s in v {
            if s.at < *due as f64 - 1.0 {
                violations.push(format!(
                    "{job}: started at {} before its due time {}",
                    hms(s.at),
                    hms(*due as f64)
                ));
            }
        }
    }
    let duplicates = by_occ.values().filter(|v| v.len() > 1).count();
    // Missed occurrences in the window; lags of the ones that started.
    let mut checked = 0;
    let mut lags: Vec<f64> = Vec::new();
    let mut missed: Vec<(String, i64)> = Vec::new();
    for d in &defs {
        for due in d.dues(from, to, &mut cache) {
            checked += 1;
            match by_occ.get(&(d.id.clone(), due)) {
                Some(v) => lags.push(v.iter().map(|s| s.at).fold(f64::MAX, f64::min) - due as f64),
                None => missed.push((d.id.clone(), due)),
            }
        }
    }
    for (job, due) in &missed {
        violations.push(format!(
            "{job}: the occurrence due at {} ({due}) never started",
            hms(*due as f64)
        ));
    }
    suspects.extend(missed.iter().cloned());
    // Evidence: the start lines of each suspect occurrence, what the leader recorded for it,
    // and what the schedulers' and masters' logs say about its run and tasks.
    let mut logs: Vec<(String, String)> = Vec::new();
    if !suspects.is_empty() {
        for n in c.of(Kind::Jobs).into_iter().chain(c.of(Kind::Master)) {
            logs.push((short(n), c.log_of(n)));
        }
    }
    let mut evidence: Vec<(String, Vec<String>)> = Vec::new();
    for (job, due) in suspects.iter().take(12) {
        let mut lines = Vec::new();
        let v = by_occ
            .get(&(job.clone(), *due))
            .cloned()
            .unwrap_or_default();
        for s in &v {
            lines.push(format!("start line: {}", s.line));
        }
        let runs: BTreeSet<&str> = v.iter().map(|s| run_of(&s.task)).collect();
        // A scheduled run's id begins with its due time, yyyyMMddHHmmss (UTC).
        let stamp = String::from_utf8_lossy(
            &Command::new("date")
                .args(["-u", "-d", &format!("@{due}"), "+%Y%m%d%H%M%S"])
                .output()
                .expect("date")
                .stdout,
        )
        .trim()
        .to_string();
        let (_, jv) = call_within(
            "GET",
            &format!("http://{leader}/v1/jobs/{job}?embed=history&embed=activeRuns"),
            None,
            10,
        );
        let mut recorded = Vec::new();
        for r in jv["history"]["successfulFinishedRuns"]
            .as_array()
            .into_iter()
            .chain(jv["history"]["failedFinishedRuns"].as_array())
            .flatten()
            .chain(jv["activeRuns"].as_array().into_iter().flatten())
        {
            let id = r["id"].as_str().unwrap_or_default();
            if runs.contains(id) || id.starts_with(&stamp) {
                lines.push(format!("recorded run: {r}"));
                recorded.push(id.to_string());
            }
        }
        let (_, sk) = call_within(
            "GET",
            &format!("http://{leader}/v1/jobs/{job}/skipped"),
            None,
            10,
        );
        for s in sk.as_array().into_iter().flatten() {
            lines.push(format!("skipped: {s}"));
        }
        let mut needles: Vec<String> = runs.iter().map(|r| r.to_string()).collect();
        needles.extend(recorded);
        needles.extend(v.iter().map(|s| s.task.clone()));
        // Task ids and run ids, or the job's lines about its occurrence at that time.
        needles.push(format!("{job}_{stamp}"));
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        let occurrence = |l: &str| l.contains(job.as_str()) && l.contains(&stamp);
        for (name, log) in &logs {
            for l in log
                .lines()
                .filter(|l| occurrence(l) || needles.iter().any(|n| l.contains(n)))
                .take(30)
            {
                lines.push(format!("{name}: {l}"));
            }
        }
        evidence.push((format!("{job} due {} ({due})", hms(*due as f64)), lines));
    }
    lags.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let fenced: Vec<(String, usize)> = c
        .of(Kind::Jobs)
        .into_iter()
        .map(|n| {
            let l = c.log_of(n);
            (short(n), l.matches("a write did not land").count())
        })
        .collect();
    eprintln!("jobs chaos: seed {seed}");
    eprintln!("jobs chaos: faults: {faults:?}");
    eprintln!("jobs chaos: writes refused per scheduler (fenced or ZooKeeper gone): {fenced:?}");
    eprintln!(
        "jobs chaos: {} start lines; {checked} occurrences due in [{}, {}] checked: {} missed, {duplicates} started twice or more",
        starts.len(),
        hms(from),
        hms(to),
        missed.len()
    );
    eprintln!(
        "jobs chaos: start lag p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    eprintln!("jobs chaos: violations: {}", violations.len());
    for v in &violations {
        eprintln!("jobs chaos: VIOLATION {v}");
    }
    for (what, lines) in &evidence {
        eprintln!("jobs chaos: evidence for {what}:");
        for l in lines {
            eprintln!("    {l}");
        }
    }
    if !violations.is_empty() {
        // Everything, kept past the containers: every node's whole log, the start lines, the
        // faults and the violations.
        let keep = std::env::temp_dir().join(format!("jobs-chaos-{seed}"));
        let _ = std::fs::create_dir_all(&keep);
        for n in &c.nodes {
            let _ = std::fs::write(keep.join(format!("{}.log", short(n))), c.log_of(n));
        }
        let _ = std::fs::copy(&starts_path, keep.join("starts.log"));
        let _ = std::fs::write(keep.join("faults.log"), fault_log.borrow().join("\n"));
        let _ = std::fs::write(keep.join("violations.txt"), violations.join("\n"));
        eprintln!("jobs chaos: logs kept in {}", keep.display());
    }
    assert!(
        violations.is_empty(),
        "{} violations of 'every due run exactly once' (seed {seed}): {violations:#?}",
        violations.len()
    );
    assert!(
        checked >= 40,
        "too few occurrences were checked ({checked}): JOBS_CHAOS_SECS={secs} is too short"
    );
    assert!(
        faults.values().sum::<u32>() > 5,
        "faults were injected: {faults:?}"
    );
}
