//! Durable event delivery: a sink sees every node event before the node is told it was
//! handled. ldk-node keeps unacknowledged events across restarts and hands them out again,
//! so a process that dies mid-handling sees the event again: at-least-once, and handlers
//! make it exactly-once by being idempotent.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::types::NodeEvent;

#[async_trait]
pub trait EventSink: Send + Sync {
    /// Handles one event; an error leaves it unacknowledged and it is offered again.
    async fn handle(&self, event: &NodeEvent) -> Result<(), String>;
}

/// A sink in a node's configuration.
#[derive(Clone)]
pub struct SinkHandle(pub Arc<dyn EventSink>);

impl fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSink")
    }
}

/// First and largest pause between attempts at an event whose handling failed.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

impl SinkHandle {
    /// Hands `event` to the sink until it succeeds. Events queue behind it meanwhile: the
    /// node must not forget an event the sink has not recorded.
    pub(crate) async fn deliver(&self, node: &str, event: &NodeEvent) {
        let mut pause = RETRY_FIRST;
        loop {
            match self.0.handle(event).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%node, %error, ?event, "event sink failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX);
                }
            }
        }
    }
}
