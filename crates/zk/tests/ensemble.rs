//! Election, detection and the store against real ZooKeeper servers (Debian's `zookeeper`).
//! Skipped where ZooKeeper is not installed, unless DROVER_TESTS_NO_SKIP is set (CI).

use drover_store::{Op, Store, StoreError};
use drover_zk::testing::{available, Ensemble};
use drover_zk::{Contender, Layout, Role, Sessions, ZkStore, ZkUrl};
use std::time::Duration;

fn skip() -> bool {
    if available() {
        return false;
    }
    assert!(
        std::env::var_os("DROVER_TESTS_NO_SKIP").is_none(),
        "ZooKeeper is not installed (apt-get install zookeeper default-jre-headless)"
    );
    eprintln!("skipped: ZooKeeper is not installed");
    true
}

async fn until<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(x) = f() {
            return x;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn leading(c: &Contender) -> Option<drover_zk::Term> {
    match &*c.role().borrow() {
        Role::Leading(t) => Some(t.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_three_contenders_leads_the_others_follow_it_and_the_next_takes_over() {
    if skip() {
        return;
    }
    let zk = Ensemble::start(1).expect("a ZooKeeper server");
    let url = ZkUrl::parse(&zk.url("/mesos")).unwrap();
    let sessions = || Sessions::new(url.clone(), Duration::from_secs(2)).unwrap();
    let mut cs: Vec<Option<Contender>> = (0..3)
        .map(|i| {
            Some(Contender::start(
                sessions(),
                Layout::Mesos,
                format!(r#"{{"id":"m{i}","ip":16777343,"port":{}}}"#, 5050 + i).into_bytes(),
            ))
        })
        .collect();
    // The first to join leads; every other follows it.
    let first = until("a leader", Duration::from_secs(20), || {
        cs.iter()
            .position(|c| c.as_ref().and_then(leading).is_some())
    })
    .await;
    let led = format!("m{first}");
    until("followers that know the leader", Duration::from_secs(20), || {
        cs.iter().enumerate().filter(|(i, _)| *i != first).all(|(_, c)| {
            matches!(&*c.as_ref().unwrap().role().borrow(), Role::Follower { leader: Some(d) } if String::from_utf8_lossy(d).contains(&led))
        }).then_some(())
    })
    .await;
    // A detector sees the same leader, through its address.
    let mut leader = drover_zk::Leader::new(&zk.url("/mesos"), Duration::from_secs(2)).unwrap();
    let addr = tokio::time::timeout(Duration::from_secs(20), leader.get())
        .await
        .unwrap();
    assert_eq!(addr, format!("127.0.0.1:{}", 5050 + first));
    // Only members live under the path: pymesos takes the string-smallest child.
    let probe = sessions().connect().await.unwrap();
    let children = probe.list_children("/mesos").await.unwrap();
    assert_eq!(children.len(), 3, "{children:?}");
    assert!(
        children
            .iter()
            .all(|c| c.starts_with("json.info_") && c.len() == 20),
        "{children:?}"
    );
    // The leader leaves (its process dies: its session closes): another leads.
    cs[first] = None;
    let next = until("a new leader", Duration::from_secs(20), || {
        cs.iter()
            .position(|c| c.as_ref().and_then(leading).is_some())
    })
    .await;
    assert_ne!(next, first);
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            leader.changed().await;
            if let Some(a) = leader.current() {
                if a != format!("127.0.0.1:{}", 5050 + first) {
                    return a;
                }
            }
        }
    })
    .await
    .expect("the detector follows the new leader");
    assert_eq!(addr, format!("127.0.0.1:{}", 5050 + next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_big_records_and_refuses_a_deposed_leaders_writes() {
    if skip() {
        return;
    }
    let zk = Ensemble::start(1).expect("a ZooKeeper server");
    let url = ZkUrl::parse(&zk.url("/drover")).unwrap();
    // The masters' default session (6 s): the client then gives a request 2 s (with a 2 s
    // session, 800 ms, which the 12,000-node transactions below overran once on a loaded 2-core
    // machine). The leader leaves by abdicating here, so nothing waits on the session's end.
    let sessions = Sessions::new(url, Duration::from_secs(6)).unwrap();
    let c = Contender::start(sessions.clone(), Layout::Mesos, b"{}".to_vec());
    let term = until("leadership", Duration::from_secs(20), || leading(&c)).await;
    let store = ZkStore::new(
        sessions.clone(),
        term.client.clone(),
        "/drover/log_replicas",
        Some(term.node.clone()),
    );
    let big = vec![7u8; 3 << 20];
    let s2 = std::sync::Arc::new(store);
    let s = s2.clone();
    let big2 = big.clone();
    tokio::task::spawn_blocking(move || {
        s.apply(vec![
            Op::Put("a/1".into(), b"x".to_vec()),
            Op::Put("a/2".into(), big2.clone()),
            Op::Put("a/.x y%".into(), b"odd key".to_vec()),
            Op::Put("b".into(), b"z".to_vec()),
        ])
        .unwrap();
        assert_eq!(s.get("a/1").unwrap().as_deref(), Some(&b"x"[..]));
        assert_eq!(
            s.get("a/2").unwrap().map(|v| v.len()),
            Some(3 << 20),
            "a 3 MiB record: no size cliff"
        );
        let a = s.scan("a/").unwrap();
        let keys: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a/.x y%", "a/1", "a/2"]);
        assert_eq!(a[2].1, big2);
        // Keys with `/` in their last part (Marathon's app ids), one the directory of another.
        s.apply(vec![
            Op::Put("apps//prod".into(), b"p".to_vec()),
            Op::Put("apps//prod/web".into(), b"w".to_vec()),
            Op::Put("apps//dev/db".into(), b"d".to_vec()),
        ])
        .unwrap();
        let keys: Vec<String> = s
            .scan("apps/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["apps//dev/db", "apps//prod", "apps//prod/web"]);
        let keys: Vec<String> = s
            .scan("apps//prod/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["apps//prod/web"]);
        s.apply(vec![Op::Delete("apps//prod".into())]).unwrap();
        assert_eq!(s.get("apps//prod").unwrap(), None);
        assert_eq!(s.get("apps//prod/web").unwrap().as_deref(), Some(&b"w"[..]));
        let keys: Vec<String> = s
            .scan("apps/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["apps//dev/db", "apps//prod/web"]);
        // A batch that touches a key twice ends as the last op says (the Marathon flusher
        // batches an instance's launch and its first update).
        s.apply(vec![
            Op::Put("twice".into(), b"1".to_vec()),
            Op::Put("twice".into(), b"2".to_vec()),
            Op::Put("gone".into(), b"x".to_vec()),
            Op::Delete("gone".into()),
        ])
        .unwrap();
        assert_eq!(s.get("twice").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(s.get("gone").unwrap(), None);
        // A batch bigger than ZooKeeper's packet limit by its paths alone (12,000 keys).
        let many: Vec<Op> = (0..12_000)
            .map(|i| {
                Op::Put(
                    format!("many/a-rather-long-key-name-to-weigh-on-the-packet-{i:05}"),
                    b"v".to_vec(),
                )
            })
            .collect();
        s.apply(many).unwrap();
        assert_eq!(s.scan("many/").unwrap().len(), 12_000);
        let gone: Vec<Op> = (0..12_000)
            .map(|i| {
                Op::Delete(format!(
                    "many/a-rather-long-key-name-to-weigh-on-the-packet-{i:05}"
                ))
            })
            .collect();
        s.apply(gone).unwrap();
        assert!(s.scan("many/").unwrap().is_empty());
        // Replacing a big value by a small one removes its chunks.
        s.apply(vec![
            Op::Put("a/2".into(), b"small".to_vec()),
            Op::Delete("a/1".into()),
        ])
        .unwrap();
        assert_eq!(s.get("a/2").unwrap().as_deref(), Some(&b"small"[..]));
        assert_eq!(s.get("a/1").unwrap(), None);
    })
    .await
    .unwrap();
    let probe = sessions.connect().await.unwrap();
    let chunks = probe
        .list_children("/drover/log_replicas/.chunks")
        .await
        .unwrap();
    assert!(chunks.is_empty(), "old chunks removed: {chunks:?}");
    // The leader abdicates: its node is gone, and so is its right to write.
    c.abdicate();
    until(
        "the old term to end",
        Duration::from_secs(20),
        || match &*c.role().borrow() {
            Role::Leading(t) if t.number == term.number => None,
            _ => Some(()),
        },
    )
    .await;
    let s = s2.clone();
    let r =
        tokio::task::spawn_blocking(move || s.apply(vec![Op::Put("b".into(), b"late".to_vec())]))
            .await
            .unwrap();
    assert!(matches!(r, Err(StoreError::Fenced(_))), "{r:?}");
    let s = s2.clone();
    let b = tokio::task::spawn_blocking(move || s.get("b"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        b.as_deref(),
        Some(&b"z"[..]),
        "the fenced write did not land"
    );
}

/// With credentials in the URL (`zk://user:pass@…`), members are readable by everyone (clients
/// find the leader without them) and writable only by their creator (Mesos'
/// EVERYONE_READ_CREATOR_ALL): another session cannot remove the leader's node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_credentials_everyone_reads_and_only_the_creator_writes() {
    if skip() {
        return;
    }
    let zk = Ensemble::start(1).expect("a ZooKeeper server");
    let with = ZkUrl::parse(&format!("zk://mesos:s3cret@{}/secure", zk.servers())).unwrap();
    let c = Contender::start(
        Sessions::new(with.clone(), Duration::from_secs(2)).unwrap(),
        Layout::Mesos,
        br#"{"id":"m0","ip":16777343,"port":5050}"#.to_vec(),
    );
    let term = until("leadership", Duration::from_secs(20), || leading(&c)).await;
    // Anyone finds the leader, without credentials.
    let mut leader = drover_zk::Leader::new(&zk.url("/secure"), Duration::from_secs(2)).unwrap();
    let addr = tokio::time::timeout(Duration::from_secs(20), leader.get())
        .await
        .unwrap();
    assert_eq!(addr, "127.0.0.1:5050");
    // But cannot remove the leader's node.
    let anon = Sessions::new(
        ZkUrl::parse(&zk.url("/secure")).unwrap(),
        Duration::from_secs(2),
    )
    .unwrap()
    .connect()
    .await
    .unwrap();
    let e = anon.delete(&term.node, None).await.expect_err("refused");
    assert_eq!(e.to_string(), "not authorized", "{e:?}");
    assert!(
        matches!(&*c.role().borrow(), Role::Leading(_)),
        "still leading"
    );
}
