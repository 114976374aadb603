//! The active chain on disk: length-prefixed consensus-encoded blocks in one file, appended
//! and fsynced after each mining call, rewritten after a reorg. Replayed (and revalidated)
//! on start so that nodes that persisted a tip find it again.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::Block;

use crate::error::DevnetError;

const FILE_NAME: &str = "blocks.dat";
/// A block is at most 4 MB of weight; anything larger in the file is corruption.
const MAX_BLOCK_BYTES: usize = 4_000_000;

pub(crate) struct BlockStore {
    path: PathBuf,
    file: File,
}

impl BlockStore {
    /// Opens (or creates) the store and returns the blocks it holds after genesis.
    pub fn open(dir: &Path) -> Result<(Self, Vec<Block>), DevnetError> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut bytes)?;
        }
        let blocks = decode_all(&bytes)?;
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok((Self { path, file }, blocks))
    }

    pub fn append(&mut self, blocks: &[Block]) -> Result<(), DevnetError> {
        self.file.write_all(&encode_all(blocks))?;
        self.file.sync_data()?;
        Ok(())
    }

    /// Replaces the file with `blocks` atomically (write, fsync, rename).
    pub fn rewrite<'a>(
        &mut self,
        blocks: impl Iterator<Item = &'a Block>,
    ) -> Result<(), DevnetError> {
        let tmp = self.path.with_extension("tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&encode_all(blocks))?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        Ok(())
    }
}

fn encode_all<'a>(blocks: impl IntoIterator<Item = &'a Block>) -> Vec<u8> {
    let mut out = Vec::new();
    for block in blocks {
        let bytes = serialize(block);
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

fn decode_all(mut bytes: &[u8]) -> Result<Vec<Block>, DevnetError> {
    let mut blocks = Vec::new();
    while !bytes.is_empty() {
        let corrupt =
            |what: &str| DevnetError::CorruptStore(format!("{what} after {} blocks", blocks.len()));
        let len_bytes: [u8; 4] = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("truncated length"))?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len > MAX_BLOCK_BYTES || bytes.len() < 4 + len {
            return Err(corrupt("truncated block"));
        }
        blocks.push(deserialize(&bytes[4..4 + len]).map_err(|e| corrupt(&e.to_string()))?);
        bytes = &bytes[4 + len..];
    }
    Ok(blocks)
}
