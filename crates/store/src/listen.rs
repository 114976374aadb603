//! Notifications between processes sharing one PostgreSQL database (`LISTEN`/`NOTIFY`):
//! how a replica learns that another one, the CLI or a trigger changed a row it keeps in
//! memory. One thread per channel holds its own connection and tells a [`Listener`] what
//! it hears. SQLite has nothing of the kind: a cache over SQLite cannot know what another
//! process wrote, so it must not cache.

use std::sync::{Arc, Weak};
use std::time::Duration;

use ::postgres::fallible_iterator::FallibleIterator;

use crate::postgres::PgManager;
use crate::StoreError;

/// What a listener is told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Listening from now on: every notification committed after this is delivered.
    Listening,
    /// The connection is gone: notifications may have been missed until the next
    /// `Listening`. Whatever was kept on their strength is stale.
    Lost,
    /// One notification's payload (never empty: an empty payload is a listener's own
    /// probe of its connection, not delivered).
    Message(String),
}

/// Receives a channel's notices on the listening thread; it must return quickly.
pub trait Listener: Send + Sync {
    fn notice(&self, notice: Notice);
}

/// How often the thread checks that its listener still exists and, when nothing arrived,
/// that its connection still answers; also how long it waits before reconnecting.
const POLL: Duration = Duration::from_secs(1);
/// How long a new connection's probe may take to come back.
const PROBE_WAIT: Duration = Duration::from_secs(5);

/// Starts the thread; it ends once `listener` is dropped.
pub(crate) fn spawn(
    manager: Arc<PgManager>,
    channel: &'static str,
    listener: Weak<dyn Listener>,
) -> Result<(), StoreError> {
    // A channel is an identifier spliced into `LISTEN`: only a fixed, plain name.
    assert!(
        !channel.is_empty() && channel.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "channel names are lowercase identifiers"
    );
    std::thread::Builder::new()
        .name(format!("store-listen-{channel}"))
        .spawn(move || run(&manager, channel, &listener))
        .map(|_| ())
        .map_err(|e| StoreError::Backend(format!("store thread: {e}")))
}

/// The next notification's payload within `wait`: `Ok(None)` when none came.
fn next_payload(client: &mut postgres::Client, wait: Duration) -> Result<Option<String>, ()> {
    let mut notifications = client.notifications();
    let mut waiting = notifications.timeout_iter(wait);
    match waiting.next() {
        Ok(heard) => Ok(heard.map(|n| n.payload().to_string())),
        Err(_) => Err(()),
    }
}

/// Listens on a new connection and proves that notifications reach it: it notifies its
/// own channel with an empty payload and waits for it (a pooler in transaction mode, for
/// one, accepts `LISTEN` and never delivers).
fn subscribe(client: &mut postgres::Client, channel: &str) -> bool {
    let listened = client.batch_execute(&format!("LISTEN {channel}; NOTIFY {channel}"));
    if listened.is_err() {
        return false;
    }
    let deadline = std::time::Instant::now() + PROBE_WAIT;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match next_payload(client, left) {
            Ok(Some(payload)) if payload.is_empty() => return true,
            Ok(Some(_)) => {} // Before `Listening`: the listener keeps nothing yet.
            Ok(None) | Err(()) => return false,
        }
    }
    false
}

/// Tells `listener` of `notice`; `false` once the listener is gone (the thread ends).
fn tell(listener: &Weak<dyn Listener>, notice: Notice) -> bool {
    match listener.upgrade() {
        Some(listener) => {
            listener.notice(notice);
            true
        }
        None => false,
    }
}

fn run(manager: &PgManager, channel: &str, listener: &Weak<dyn Listener>) {
    loop {
        if let Ok(mut client) = manager.listening_client("fulgur-listen") {
            let went_on = !subscribe(&mut client, channel)
                || (deliver(&mut client, listener) && tell(listener, Notice::Lost));
            if !went_on {
                return;
            }
        }
        if listener.strong_count() == 0 {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Tells `Listening`, then every message until the connection fails: `true` then (to be
/// told `Lost` and reconnected), `false` once the listener is gone.
fn deliver(client: &mut postgres::Client, listener: &Weak<dyn Listener>) -> bool {
    if !tell(listener, Notice::Listening) {
        return false;
    }
    loop {
        match next_payload(client, POLL) {
            // Another listener's probe (empty payloads are nobody's message).
            Ok(Some(payload)) if payload.is_empty() => {}
            Ok(Some(payload)) => {
                if !tell(listener, Notice::Message(payload)) {
                    return false;
                }
            }
            Ok(None) if listener.strong_count() == 0 => return false,
            // Quiet: make sure the connection still answers.
            Ok(None) => {
                if client.batch_execute("SELECT 1").is_err() {
                    return true;
                }
            }
            Err(()) => return true,
        }
    }
}
