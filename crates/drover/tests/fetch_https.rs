//! The fetcher over https, against a real TLS server (Python's `http.server` wrapped in `ssl`,
//! with a CA and certificates made by `openssl`): an artifact from a server whose certificate the agent
//! trusts (`SSL_CERT_FILE`, as for OpenSSL-based tools) is fetched and extracted into the sandbox;
//! one from a server with an unknown issuer fails the task with TASK_FAILED naming the URI and
//! the certificate problem.

mod common;
use common::sched::*;
use common::*;
use drover_api::*;
use drover_bench::client::SchedulerClient;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A CA named `name` and a server certificate for 127.0.0.1 it signed, in `dir`:
/// (server key, server cert, CA cert). rustls (webpki) refuses a CA certificate used as the
/// server's own, so the test has the usual two levels.
fn make_certs(dir: &Path, name: &str) -> (String, String, String) {
    let p = |f: &str| dir.join(format!("{name}-{f}")).display().to_string();
    let (ca_key, ca, key, csr, cert, ext) = (
        p("ca.key"),
        p("ca.pem"),
        p("server.key"),
        p("server.csr"),
        p("server.pem"),
        p("ext.cnf"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let steps: [Vec<&str>; 3] = [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=drover-test-ca",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl (the tests need it: apt-get install openssl)");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    }
    (key, cert, ca)
}

/// An https file server on an ephemeral port serving `root`; returns the child and its port.
struct Https(Child);
impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_https(root: &Path, key: &str, cert: &str) -> (Https, u16) {
    let script = r#"
import http.server, ssl, sys, functools
root, key, cert = sys.argv[1:4]
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
srv = http.server.HTTPServer(("127.0.0.1", 0), h)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, &root.display().to_string(), key, cert])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("port line");
    let port: u16 = line.trim().parse().expect("port");
    (Https(child), port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_artifacts_are_fetched_and_untrusted_certificates_fail_the_task() {
    let d = tempfile::tempdir().unwrap();
    let www = d.path().join("www");
    std::fs::create_dir_all(www.join("app")).unwrap();
    std::fs::write(www.join("app/hello.txt"), "fetched over tls").unwrap();
    let ok = Command::new("tar")
        .args(["-C", &www.display().to_string(), "-czf"])
        .arg(www.join("app.tgz"))
        .arg("app")
        .status()
        .unwrap();
    assert!(ok.success());
    let (key, cert, ca) = make_certs(d.path(), "trusted");
    let (key2, cert2, _) = make_certs(d.path(), "stranger");
    let (_trusted, port) = serve_https(&www, &key, &cert);
    let (_stranger, port2) = serve_https(&www, &key2, &cert2);

    // The agent trusts the first server's certificate only. Each test runs in its own process
    // under nextest, so this reaches only this test's `drover up`.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let up = Up::start(1, &[]);
    let mut s = SchedulerClient::subscribe(&up.master, framework("https-fetch", 0.0, false))
        .await
        .unwrap();
    let uri = |url: String| CommandURI {
        value: url,
        extract: Some(true),
        ..Default::default()
    };
    launch_infos(&mut s, |agent| {
        let mut good = command_task("good", agent, "cat app/hello.txt");
        let mut bad = command_task("bad", agent, "true");
        good.command.as_mut().unwrap().uris =
            vec![uri(format!("https://127.0.0.1:{port}/app.tgz"))];
        bad.command.as_mut().unwrap().uris =
            vec![uri(format!("https://127.0.0.1:{port2}/app.tgz"))];
        vec![good, bad]
    })
    .await;
    let mut ends = std::collections::HashMap::new();
    while ends.len() < 2 {
        let st = wait_update(&mut s, Duration::from_secs(60), true, |st| {
            st.state.is_terminal()
        })
        .await;
        ends.insert(st.task_id.value.clone(), st);
    }
    let good = &ends["good"];
    assert_eq!(
        good.state,
        TaskState::TASK_FINISHED,
        "{good:?}\n{}",
        up.log()
    );
    let bad = &ends["bad"];
    assert_eq!(bad.state, TaskState::TASK_FAILED, "{bad:?}");
    assert_eq!(bad.reason, Some(Reason::REASON_CONTAINER_LAUNCH_FAILED));
    let msg = bad.message.clone().unwrap_or_default();
    assert!(
        msg.contains(&format!("https://127.0.0.1:{port2}/app.tgz")),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");

    // The artifact really came through: the task printed the file from the archive.
    let log = Command::new(drover_bin())
        .args(["task", "log", "good", "--master", &up.master])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("fetched over tls"),
        "task log: {log:?}"
    );
}
