//! Bounded waits: every wait in the lab has a deadline and says what it waited for.

use std::time::Duration;

use node_pool::NodeEvent;
use tokio::sync::broadcast;
use tokio::time::Instant;

const POLL_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
#[error("timed out after {after:?} waiting for {what}")]
pub struct WaitError {
    pub what: String,
    pub after: Duration,
}

/// Polls `condition` until it holds or `timeout` passes.
pub async fn wait_until(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> Result<(), WaitError> {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() >= deadline {
            return Err(WaitError {
                what: what.to_string(),
                after: timeout,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Ok(())
}

/// The next event matching `predicate`, within `timeout`.
pub(crate) async fn next_matching(
    events: &mut broadcast::Receiver<NodeEvent>,
    timeout: Duration,
    predicate: impl Fn(&NodeEvent) -> bool,
) -> Result<NodeEvent, WaitError> {
    let found = tokio::time::timeout(timeout, async {
        loop {
            match events.recv().await {
                Ok(event) if predicate(&event) => return Some(event),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .await;
    found.ok().flatten().ok_or_else(|| WaitError {
        what: "a node event".to_string(),
        after: timeout,
    })
}
