//! A framework's link to the master, on the public v1 scheduler API (`/api/v1/scheduler`), for
//! every framework Drover runs (Marathon, the jobs scheduler).
//!
//! [`Link::start`] runs two tasks. The link follows the leading master (a fixed `host:port`, or
//! `zk://…/mesos` through [`drover_zk::Leader`]), SUBSCRIBEs with the [`Scheduler`]'s
//! `FrameworkInfo`, decodes the RecordIO event stream and hands each event to the scheduler,
//! re-subscribing with backoff when the stream ends, no heartbeat comes for 60 s or the leading
//! master changes. The poster posts the calls the scheduler returns, and those sent through
//! [`Link::send`] or a [`Sender`], with the framework id of the last SUBSCRIBED and the stream id
//! of the last subscription filled in.
#![forbid(unsafe_code)]

mod link;
mod poster;

use drover_api::scheduler::{Call, Event};
use drover_api::FrameworkInfo;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// What a framework does with its link. The link calls these from its own task, one at a time.
pub trait Scheduler: Send + Sync + 'static {
    /// The FrameworkInfo to SUBSCRIBE with (with its stored id after a restart); asked before
    /// every subscription.
    fn framework_info(&self) -> FrameworkInfo;
    /// An event from the master (SUBSCRIBED included; HEARTBEAT too, which may be ignored);
    /// returns the calls to post, in order.
    fn on_event(&self, event: Event) -> Vec<Call>;
    /// The subscription ended (stream lost, no heartbeat, master changed); the link
    /// re-subscribes by itself.
    fn on_disconnected(&self) {}
    /// The master refused the subscription because this framework was removed (torn down: a
    /// 403 whose body says "removed"). Calls are dropped until the next SUBSCRIBED; the next
    /// subscription uses whatever `framework_info` then returns (no id: a new framework).
    fn on_removed(&self) {}
}

/// What the link knows of its subscription, shared with the poster.
#[derive(Default)]
struct Session {
    /// The master followed now (`host:port`): subscribed or subscribing to.
    master: Option<String>,
    /// `Mesos-Stream-Id` of the last successful SUBSCRIBE.
    stream_id: Option<String>,
    /// The framework id of the last SUBSCRIBED event (none after a removal).
    framework_id: Option<drover_api::FrameworkID>,
}

type SharedSession = Arc<Mutex<Session>>;

fn lock(s: &Mutex<Session>) -> MutexGuard<'_, Session> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Posts calls through a link; cheap to clone (for a ticker task, say). Calls sent after the
/// link stopped are dropped.
#[derive(Clone)]
pub struct Sender(mpsc::UnboundedSender<Call>);

impl Sender {
    /// Post `calls` in the order given (see [`Link::send`]).
    pub fn send(&self, calls: Vec<Call>) {
        for c in calls {
            // Err: the link stopped; nothing is posted after that.
            let _ = self.0.send(c);
        }
    }
}

/// A running link to the master: the subscription and the poster. Stopped by [`Link::stop`]
/// or when dropped.
pub struct Link {
    sender: Sender,
    session: SharedSession,
    tasks: [AbortHandle; 2],
}

impl Link {
    /// Start the link and the poster on the current tokio runtime: `master` is `host:port` or
    /// `zk://…/mesos` (the leading master, followed).
    pub fn start(master: &str, scheduler: Arc<dyn Scheduler>, http: reqwest::Client) -> Link {
        let (tx, rx) = mpsc::unbounded_channel();
        let session = SharedSession::default();
        // Both tasks log inside it; the link records the framework's name when it first asks.
        let span = tracing::info_span!("framework", name = tracing::field::Empty);
        let link = link::run(
            master.to_string(),
            scheduler,
            session.clone(),
            Sender(tx.clone()),
            http.clone(),
        );
        let poster = poster::run(session.clone(), rx, http);
        use tracing::Instrument;
        let tasks = [
            tokio::spawn(poster.instrument(span.clone())).abort_handle(),
            tokio::spawn(link.instrument(span)).abort_handle(),
        ];
        Link {
            sender: Sender(tx),
            session,
            tasks,
        }
    }

    /// Post calls in order, each with the framework id of the last SUBSCRIBED and the stream id
    /// of the last subscription. Calls made before the first SUBSCRIBED (or after the framework
    /// was removed, until it subscribes again) are dropped. Acknowledgements, kills, accepts and
    /// declines go out concurrently (up to 64 at a time); any other call waits for everything
    /// posted before it to be answered, and goes out alone.
    pub fn send(&self, calls: Vec<Call>) {
        self.sender.send(calls);
    }

    /// A cloneable handle that posts through this link.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// The master followed now (`host:port`: the one subscribed or subscribing to, which calls
    /// are posted to), once one is known.
    pub fn master(&self) -> Option<String> {
        lock(&self.session).master.clone()
    }

    /// Stop the link and the poster: no event is handled and no call posted after this (a post
    /// already on the wire still lands).
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop();
    }
}
