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
    /// One notification's payload.
    Message(String),
}

/// Receives a channel's notices on the listening thread; it must return quickly.
pub trait Listener: Send + Sync {
    fn notice(&self, notice: Notice);
}

/// How often the thread checks that its listener still exists, and how long it waits
/// before reconnecting.
const POLL: Duration = Duration::from_secs(1);

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

fn run(manager: &PgManager, channel: &str, listener: &Weak<dyn Listener>) {
    let tell = |notice: Notice| match listener.upgrade() {
        Some(listener) => {
            listener.notice(notice);
            true
        }
        None => false,
    };
    loop {
        if let Ok(mut client) = manager.listening_client("fulgur-listen") {
            if client.batch_execute(&format!("LISTEN {channel}")).is_ok() {
                if !tell(Notice::Listening) {
                    return;
                }
                loop {
                    let heard = {
                        let mut notifications = client.notifications();
                        let mut waiting = notifications.timeout_iter(POLL);
                        waiting.next().map(|n| n.map(|n| n.payload().to_string()))
                    };
                    match heard {
                        Ok(Some(payload)) => {
                            if !tell(Notice::Message(payload)) {
                                return;
                            }
                        }
                        Ok(None) if client.is_closed() => break,
                        Ok(None) => {
                            if listener.strong_count() == 0 {
                                return;
                            }
                        }
                        Err(_) => break,
                    }
                }
                if !tell(Notice::Lost) {
                    return;
                }
            }
        }
        if listener.strong_count() == 0 {
            return;
        }
        std::thread::sleep(POLL);
    }
}
