//! The threads full views are rendered on. Rendering `/master/state` for 10,000 tasks is tens
//! of milliseconds of CPU, and a client may ask for it in a loop; these threads run at the
//! lowest CPU priority (nice 19), so such a client gets the CPU that is idle and never the CPU
//! that decisions (offers, accepts, status updates on the runtime's threads) and the agents
//! need. They also yield the CPU every [`YIELD_EVERY_BYTES`] written (a thread that wakes up
//! behind a low-priority one may otherwise wait for the rest of its time slice, a millisecond
//! or more, several times on a launch's way through master and agent). And together they
//! render at most [`SHARE`] of the time: after a render, the next one starts when the time it
//! took is that share of the time since it started, so however many clients ask, full views
//! take at most a tenth of one CPU (and the bytes the master writes and its clients read stay in
//! proportion), and a client asking in a loop gets a fresh view every ten render times (for
//! 10,000 tasks, two a second). The snapshot a view
//! renders from is taken under the master's lock before; here no lock of the master is held.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// How much JSON a render writes between two yields: ~0.1 ms of work.
pub const YIELD_EVERY_BYTES: usize = 64 << 10;

/// `v` as JSON, yielding the CPU as it is written.
pub fn to_json(v: &impl serde::Serialize, capacity: usize) -> serde_json::Result<Vec<u8>> {
    let mut w = Yielding {
        out: Vec::with_capacity(capacity),
        since: 0,
    };
    serde_json::to_writer(&mut w, v)?;
    Ok(w.out)
}

/// A buffer that yields the thread's CPU every [`YIELD_EVERY_BYTES`] written to it.
struct Yielding {
    out: Vec<u8>,
    since: usize,
}

impl std::io::Write for Yielding {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.extend_from_slice(buf);
        self.since += buf.len();
        if self.since >= YIELD_EVERY_BYTES {
            self.since = 0;
            std::thread::yield_now();
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Renderer {
    jobs: Mutex<Sender<Job>>,
}

/// The nice value of the render threads.
const NICE: i32 = 19;

/// The share of the time the render threads may spend rendering.
pub const SHARE: f64 = 0.1;

/// When the next render may start after one that started at `start` and took `took`.
fn next_start(start: Instant, took: Duration) -> Instant {
    start + took.div_f64(SHARE)
}

impl Renderer {
    /// `threads` render threads (renders beyond that many at once wait their turn).
    pub fn new(threads: usize) -> Renderer {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let gate = Arc::new(Mutex::new(Instant::now()));
        for i in 0..threads.max(1) {
            let (rx, gate) = (rx.clone(), gate.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("master-render-{i}"))
                .spawn(move || work(&rx, &gate));
            if let Err(e) = spawned {
                tracing::error!("starting render thread {i}: {e}");
            }
        }
        Renderer {
            jobs: Mutex::new(tx),
        }
    }

    /// Run `render` on a render thread and wait for it; `None` if it panicked.
    pub async fn run<R: Send + 'static>(
        &self,
        render: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(render());
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job);
        if sent.is_err() {
            return None;
        }
        rx.await.ok()
    }
}

/// `gate`: when the next render may start (shared by the render threads).
fn work(rx: &Mutex<Receiver<Job>>, gate: &Mutex<Instant>) {
    // On Linux a nice value is a thread's own: this lowers this thread only.
    if let Err(e) = rustix::process::setpriority_process(None, NICE) {
        tracing::warn!("render thread keeps its CPU priority (setpriority: {e})");
    }
    loop {
        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return, // the master is gone
        };
        let not_before = *gate.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if not_before > now {
            std::thread::sleep(not_before - now);
        }
        let start = Instant::now();
        // A render that panics answers nothing (its caller gets None); the thread goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        let next = next_start(start, start.elapsed());
        let mut g = gate.lock().unwrap_or_else(|e| e.into_inner());
        *g = (*g).max(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_on_its_threads_at_low_priority_and_survives_a_panic() {
        let r = Renderer::new(2);
        let (name, nice) = r
            .run(|| {
                (
                    std::thread::current().name().map(String::from),
                    rustix::process::getpriority_process(None).ok(),
                )
            })
            .await
            .expect("rendered");
        assert!(name.is_some_and(|n| n.starts_with("master-render-")));
        assert_eq!(nice, Some(NICE));
        let panicked: Option<()> = r.run(|| panic!("a render that fails")).await;
        assert!(panicked.is_none());
        for i in 0..4 {
            assert_eq!(r.run(move || i * 2).await, Some(i * 2));
        }
    }

    #[test]
    fn renders_take_their_share_of_the_time() {
        let t0 = Instant::now();
        // (render time, the next may start after)
        for (took_ms, after_ms) in [(0, 0), (1, 10), (25, 250), (200, 2000)] {
            let next = next_start(t0, Duration::from_millis(took_ms));
            assert_eq!(next - t0, Duration::from_millis(after_ms), "{took_ms} ms");
        }
    }

    #[test]
    fn yielding_json_is_the_json() {
        let v: Vec<String> = (0..20_000).map(|i| format!("item {i}")).collect();
        let bytes = to_json(&v, 0).expect("writes");
        assert!(bytes.len() > 2 * YIELD_EVERY_BYTES);
        assert_eq!(bytes, serde_json::to_vec(&v).expect("writes"));
    }
}
