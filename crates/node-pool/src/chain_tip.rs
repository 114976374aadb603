//! The chain's tip as the nodes' chain source sees it: what a node's best block is
//! compared with to tell whether it is in sync.

use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::{ChainSource, NodeError};

/// Longest wait for the chain source's answer; readiness and scrapes must not hang on it.
const TIP_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer read from the chain source.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Reads the height of the chain's best block.
#[async_trait]
pub trait ChainTip: Send + Sync {
    async fn tip_height(&self) -> Result<u32, NodeError>;
}

/// Asks the nodes' own chain source: bitcoind's `getblockcount`, Esplora's
/// `/blocks/tip/height`, or Electrum's `blockchain.headers.subscribe` (plain TCP only).
pub struct ChainSourceTip {
    source: ChainSource,
    http: reqwest::Client,
}

impl ChainSourceTip {
    pub fn new(source: ChainSource) -> Result<Self, NodeError> {
        let http = reqwest::Client::builder()
            .timeout(TIP_TIMEOUT)
            .build()
            .map_err(|e| NodeError::Backend(format!("chain tip client: {e}")))?;
        Ok(Self { source, http })
    }

    async fn bitcoind(&self, url: String, user: &str, password: &str) -> Result<u32, NodeError> {
        let body = serde_json::json!({"jsonrpc": "1.0", "id": "tip", "method": "getblockcount", "params": []});
        let answer: serde_json::Value = self
            .http
            .post(url)
            .basic_auth(user, Some(password))
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?
            .json()
            .await
            .map_err(unreachable)?;
        height_of(&answer["result"])
    }

    async fn esplora(&self, url: &str) -> Result<u32, NodeError> {
        let text = self
            .http
            .get(format!("{}/blocks/tip/height", url.trim_end_matches('/')))
            .send()
            .await
            .map_err(unreachable)?
            .text()
            .await
            .map_err(unreachable)?;
        text.trim()
            .parse()
            .map_err(|_| NodeError::Backend(format!("chain source answered {text:?} for the tip")))
    }

    async fn electrum(url: &str) -> Result<u32, NodeError> {
        let Some(address) = url.strip_prefix("tcp://") else {
            return Err(NodeError::Backend(format!(
                "chain tip: only tcp:// Electrum servers are read, not {url}"
            )));
        };
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(address).await?;
            stream
                .write_all(
                    b"{\"id\":1,\"method\":\"blockchain.headers.subscribe\",\"params\":[]}\n",
                )
                .await?;
            let mut line = String::new();
            BufReader::new(stream.take(MAX_ANSWER_BYTES as u64))
                .read_line(&mut line)
                .await?;
            Ok::<_, std::io::Error>(line)
        };
        let line = tokio::time::timeout(TIP_TIMEOUT, exchange)
            .await
            .map_err(|_| NodeError::Backend("chain source did not answer in time".into()))?
            .map_err(unreachable)?;
        let answer: serde_json::Value = serde_json::from_str(&line).map_err(unreachable)?;
        height_of(&answer["result"]["height"])
    }
}

fn unreachable(e: impl std::fmt::Display) -> NodeError {
    NodeError::Backend(format!("chain source unreachable: {e}"))
}

fn height_of(value: &serde_json::Value) -> Result<u32, NodeError> {
    value
        .as_u64()
        .and_then(|h| u32::try_from(h).ok())
        .ok_or_else(|| NodeError::Backend(format!("chain source answered {value} for the tip")))
}

#[async_trait]
impl ChainTip for ChainSourceTip {
    async fn tip_height(&self) -> Result<u32, NodeError> {
        match &self.source {
            ChainSource::BitcoindRpc {
                host,
                port,
                user,
                password,
            } => {
                self.bitcoind(format!("http://{host}:{port}"), user, password)
                    .await
            }
            ChainSource::Esplora { url } => self.esplora(url).await,
            ChainSource::Electrum { url } => Self::electrum(url).await,
        }
    }
}
