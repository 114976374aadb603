//! On-disk records: `magic | op | ns1 len | ns2 len | key len | value len | crc32 | bytes`.
//! The CRC covers op and bytes, so a torn or corrupt tail is detected on replay.

use std::io;

const MAGIC: u8 = 0xa5;
const HEADER_LEN: usize = 1 + 1 + 2 + 2 + 2 + 4 + 4;
/// LDK keys and namespaces are at most 120 characters; values (a channel monitor, the channel
/// manager) stay well under this.
pub(crate) const MAX_VALUE_LEN: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    pub primary: String,
    pub secondary: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Put(Key, Vec<u8>),
    Remove(Key),
}

pub(crate) fn encode(op: &Op, out: &mut Vec<u8>) {
    let (code, key, value): (u8, &Key, &[u8]) = match op {
        Op::Put(key, value) => (1, key, value),
        Op::Remove(key) => (2, key, &[]),
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[code]);
    for part in [
        key.primary.as_bytes(),
        key.secondary.as_bytes(),
        key.key.as_bytes(),
        value,
    ] {
        crc.update(part);
    }
    out.push(MAGIC);
    out.push(code);
    out.extend_from_slice(&(key.primary.len() as u16).to_le_bytes());
    out.extend_from_slice(&(key.secondary.len() as u16).to_le_bytes());
    out.extend_from_slice(&(key.key.len() as u16).to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(key.primary.as_bytes());
    out.extend_from_slice(key.secondary.as_bytes());
    out.extend_from_slice(key.key.as_bytes());
    out.extend_from_slice(value);
}

/// Decodes records from the start of `bytes`; returns them and the length of the valid
/// prefix. Decoding stops at the first incomplete or corrupt record: a write that was never
/// acknowledged (the crash came before its fsync finished).
pub(crate) fn decode_all(bytes: &[u8]) -> (Vec<Op>, usize) {
    let mut ops = Vec::new();
    let mut at = 0;
    while let Some((op, len)) = decode_one(&bytes[at..]) {
        ops.push(op);
        at += len;
    }
    (ops, at)
}

fn decode_one(bytes: &[u8]) -> Option<(Op, usize)> {
    let header = bytes.get(..HEADER_LEN)?;
    if header[0] != MAGIC {
        return None;
    }
    let code = header[1];
    let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]) as usize;
    let (primary_len, secondary_len, key_len) = (u16_at(2), u16_at(4), u16_at(6));
    let value_len = u32::from_le_bytes(header[8..12].try_into().ok()?) as usize;
    let stored_crc = u32::from_le_bytes(header[12..16].try_into().ok()?);
    if value_len > MAX_VALUE_LEN {
        return None;
    }
    let total = HEADER_LEN + primary_len + secondary_len + key_len + value_len;
    let body = bytes.get(HEADER_LEN..total)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[code]);
    crc.update(body);
    if crc.finalize() != stored_crc {
        return None;
    }
    let text = |from: usize, len: usize| String::from_utf8(body[from..from + len].to_vec()).ok();
    let key = Key {
        primary: text(0, primary_len)?,
        secondary: text(primary_len, secondary_len)?,
        key: text(primary_len + secondary_len, key_len)?,
    };
    let value = body[primary_len + secondary_len + key_len..].to_vec();
    let op = match code {
        1 => Op::Put(key, value),
        2 => Op::Remove(key),
        _ => return None,
    };
    Some((op, total))
}

pub(crate) fn check_key(key: &Key) -> io::Result<()> {
    let too_long = [&key.primary, &key.secondary, &key.key]
        .iter()
        .any(|s| s.len() > u16::MAX as usize);
    if too_long || key.key.is_empty() || (key.primary.is_empty() && !key.secondary.is_empty()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid namespace or key",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Key {
        Key {
            primary: "p".into(),
            secondary: "s".into(),
            key: k.into(),
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_dropped() {
        let ops = vec![
            Op::Put(key("a"), vec![1, 2, 3]),
            Op::Remove(key("b")),
            Op::Put(key("c"), vec![]),
        ];
        let mut bytes = Vec::new();
        for op in &ops {
            encode(op, &mut bytes);
        }
        assert_eq!(decode_all(&bytes), (ops.clone(), bytes.len()));
        let full = bytes.len();
        bytes.truncate(full - 1);
        let (decoded, valid) = decode_all(&bytes);
        assert_eq!(
            decoded,
            ops[..2].to_vec(),
            "the torn last record is not replayed"
        );
        assert!(valid < full);
    }

    #[test]
    fn a_flipped_bit_stops_replay_at_that_record() {
        let mut bytes = Vec::new();
        encode(&Op::Put(key("a"), vec![9; 10]), &mut bytes);
        let first = bytes.len();
        encode(&Op::Put(key("b"), vec![7; 10]), &mut bytes);
        bytes[first + HEADER_LEN + 5] ^= 0x01;
        let (decoded, valid) = decode_all(&bytes);
        assert_eq!((decoded.len(), valid), (1, first));
    }
}
