//! What the agent guarantees about a task's surroundings: memory limits with OOM reported as
//! REASON_CONTAINER_LIMITATION_MEMORY, `/files` confined to sandboxes, `/monitor/statistics`
//! with real usage, and Ctrl-C of `drover up` leaving no task process behind.

mod common;
use common::sched::*;
use common::*;
use drover_api::*;
use drover_bench::client::SchedulerClient;
use std::time::Duration;

fn cgroups_available() -> bool {
    std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
        || std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .map(|c| c.contains("memory"))
            .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hog_is_oom_killed_and_reported_as_a_memory_limitation() {
    assert!(
        cgroups_available(),
        "this test needs cgroup memory control (v1 or v2), which these machines have"
    );
    let up = Up::start(1, &[]);
    let mut s = SchedulerClient::subscribe(&up.master, framework("oom", 0.0, false))
        .await
        .unwrap();
    launch_infos(&mut s, |agent| {
        let mut t = command_task("hog", agent, "head -c 400M /dev/zero | tail");
        t.resources = vec![scalar("cpus", 0.1), scalar("mem", 32.0)];
        vec![t]
    })
    .await;
    let st = wait_update(&mut s, Duration::from_secs(60), true, |st| {
        st.state.is_terminal()
    })
    .await;
    assert_eq!(st.state, TaskState::TASK_FAILED, "{st:?}\n{}", up.log());
    assert_eq!(
        st.reason,
        Some(Reason::REASON_CONTAINER_LIMITATION_MEMORY),
        "{st:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_endpoints_serve_sandboxes_only_and_statistics_show_usage() {
    let up = Up::start(1, &[]);
    let agent = up.agents[0].clone();
    let mut s = SchedulerClient::subscribe(&up.master, framework("files", 0.0, false))
        .await
        .unwrap();
    launch(&mut s, &[("writer", "echo sandboxed-output; sleep 1000")]).await;
    wait_update(&mut s, Duration::from_secs(20), true, |st| {
        st.state == TaskState::TASK_RUNNING
    })
    .await;
    let state = get_json(&format!("http://{agent}/state")).unwrap();
    let dir = state["frameworks"][0]["executors"][0]["directory"]
        .as_str()
        .unwrap()
        .to_string();
    let http = drover_httpclient::builder().build().expect("http client");
    let get = |path: String| {
        let http = http.clone();
        let agent = agent.clone();
        async move {
            http.get(format!("http://{agent}/files/read"))
                .query(&[("path", path.as_str()), ("offset", "0")])
                .send()
                .await
                .unwrap()
        }
    };
    wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(format!("{dir}/stdout"))
            .map(|s| !s.is_empty())
            .unwrap_or(false)
    });
    let r = get(format!("{dir}/stdout")).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["data"].as_str().unwrap().contains("sandboxed-output"));
    for escape in [
        "/etc/passwd".to_string(),
        format!("{dir}/../../../../../../../../etc/passwd"),
        format!("{dir}/../../../../../meta"),
    ] {
        let r = get(escape.clone()).await;
        assert_eq!(r.status(), 403, "{escape} must be refused");
    }
    let r = http
        .get(format!("http://{agent}/files/browse"))
        .query(&[("path", dir.as_str())])
        .send()
        .await
        .unwrap();
    let listing: serde_json::Value = r.json().await.unwrap();
    assert!(listing
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["path"].as_str().unwrap().ends_with("/stdout")));
    let stats = get_json(&format!("http://{agent}/monitor/statistics")).unwrap();
    let st = &stats.as_array().unwrap()[0]["statistics"];
    assert_eq!(st["cpus_limit"], 0.1);
    assert_eq!(st["mem_limit_bytes"], 32 * 1024 * 1024);
    assert!(st["mem_rss_bytes"].as_u64().unwrap() > 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_of_drover_up_leaves_no_task_behind() {
    let mut up = Up::start(2, &[]);
    let mut s = SchedulerClient::subscribe(&up.master, framework("ctrl-c", 0.0, false))
        .await
        .unwrap();
    launch(
        &mut s,
        &[("a", "sleep 1000"), ("b", "trap '' TERM; sleep 1000")],
    )
    .await;
    let mut running = 0;
    while running < 2 {
        wait_update(&mut s, Duration::from_secs(20), true, |st| {
            st.state == TaskState::TASK_RUNNING
        })
        .await;
        running += 1;
    }
    let (a, b) = (
        pid_of_task(up.dir.path(), "a").unwrap(),
        pid_of_task(up.dir.path(), "b").unwrap(),
    );
    up.proc.signal(2); // SIGINT, as Ctrl-C sends
    let status = up.proc.child.wait().unwrap();
    assert!(
        status.success(),
        "drover up exits cleanly on Ctrl-C: {status:?}"
    );
    for pid in [a, b] {
        // Gone, or a zombie about to be reaped by init: either way not running.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z"),
            "task process {pid} survived Ctrl-C: {stat}"
        );
    }
}

/// The cpu cgroup (v1) a process is in, as a directory under /sys/fs/cgroup/cpu.
fn cpu_cgroup_of(pid: u32) -> std::path::PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = text
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ctrls
                .split(',')
                .any(|c| c == "cpu")
                .then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("no cpu cgroup in {text}"));
    std::path::Path::new("/sys/fs/cgroup/cpu").join(rel.trim_start_matches('/'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_shares_always_and_a_cfs_quota_unless_cgroups_enable_cfs_is_false() {
    if !std::path::Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists() {
        // These machines have cgroup v1; on a v2-only host the same limits are cpu.weight/cpu.max.
        panic!("this test needs the cgroup v1 cpu controller, which these machines have");
    }
    for (flags, quota) in [
        (&[][..], "50000"),
        (&["--cgroups-enable-cfs", "false"][..], "-1"),
    ] {
        let up = Up::start(1, flags);
        let mut s = SchedulerClient::subscribe(&up.master, framework("cfs", 0.0, false))
            .await
            .unwrap();
        launch_infos(&mut s, |agent| {
            let mut t = command_task("half", agent, "sleep 1000");
            t.resources = vec![scalar("cpus", 0.5), scalar("mem", 32.0)];
            vec![t]
        })
        .await;
        wait_update(&mut s, Duration::from_secs(20), true, |st| {
            st.state == TaskState::TASK_RUNNING
        })
        .await;
        let pid = pid_of_task(up.dir.path(), "half").expect("task process");
        let mut dir = cpu_cgroup_of(pid);
        // The shell joins its cgroup before it enters the sandbox; give it the same moment.
        wait_for(Duration::from_secs(5), || {
            dir = cpu_cgroup_of(pid);
            dir.to_string_lossy().contains("/drover/")
        });
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(read("cpu.shares"), "512", "{flags:?}: {}", dir.display());
        assert_eq!(
            read("cpu.cfs_quota_us"),
            quota,
            "{flags:?}: {}",
            dir.display()
        );
    }
}
