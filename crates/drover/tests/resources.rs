//! Reservations and persistent volumes with the real pymesos driver against `drover up`: a
//! framework reserves, creates a volume, writes to it and goes away; a new framework of the
//! role is offered the volume again, reads the data back, destroys the volume and unreserves.

mod common;
use common::*;

fn run(py: &std::path::Path, master: &str, phase: &str, up: &Up) -> String {
    let script = repo_root().join("tests/clients/pymesos_volume.py");
    let out = std::process::Command::new(py.join("mesos/bin/python"))
        .arg(&script)
        .arg(master)
        .arg(phase)
        .output()
        .expect("run pymesos_volume.py");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{phase}: {stdout}\nstderr: {}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        up.log()
    );
    stdout
}

/// Files named `name` under `root`.
fn find(root: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == name) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_framework_keeps_data_on_a_persistent_volume_across_frameworks() {
    let py = pyclients();
    let up = Up::start(1, &[]);
    let out = run(&py, &up.master, "write", &up);
    assert!(out.contains("WROTE"), "{out}");
    // The data sits in the agent's volumes directory, outside any sandbox.
    let work = up.dir.path().join("drover");
    let files: Vec<_> = find(&work, "file")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("volumes/roles/db/v1"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        std::fs::read_to_string(&files[0]).unwrap().trim(),
        "hello-from-the-volume"
    );
    let out = run(&py, &up.master, "read", &up);
    assert!(out.contains("UPDATE reader TASK_FINISHED"), "{out}");
    assert!(out.contains("READ") && out.contains("UNRESERVED"), "{out}");
    // Destroyed: its data is gone from the agent.
    assert!(
        find(&work, "file")
            .iter()
            .all(|p| !p.to_string_lossy().contains("volumes/roles/db/v1")),
        "the destroyed volume's data is still there"
    );
}
