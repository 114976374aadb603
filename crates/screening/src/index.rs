//! Every listed name and alias, indexed for candidates, and the query that scores them.
//! Candidates come from exact tokens, Double Metaphone codes, one-deletion neighbours
//! (typos and transpositions within one edit share a deletion) and 4-letter prefixes
//! (truncation); only the names that share the most of the caller's tokens are scored.

use std::collections::HashMap;
use std::hash::Hasher;

use rphonetic::DoubleMetaphone;
use rustc_hash::{FxHashMap, FxHasher};

use crate::normalize::normalize;
use crate::score::{score, score_only, Prepared, PreparedName};
use crate::{country_key, Entry, EntryKind, Explanation};

/// Names scored per query at most (the best candidates by tokens shared).
const MAX_CANDIDATES: usize = 32;
/// A key shared by more names than this (a very common token's deletion) is not used to
/// find candidates: the other keys of the query find them.
const MAX_POSTINGS: usize = 1_024;
/// A caller's name is read up to this many words (no listed name is longer).
const MAX_QUERY_TOKENS: usize = 16;
/// Hits answered per query at most.
pub const MAX_HITS: usize = 20;

/// What the caller says the name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum QueryKind {
    Person,
    Organization,
    Vessel,
    #[default]
    Any,
}

impl QueryKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A name to screen, with optional qualifiers.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub name: String,
    pub kind: QueryKind,
    /// A country as a code (`SY`, `SYR`) or a name (`Syria`), compared with the entry's.
    pub country: Option<String>,
    pub birth_year: Option<u16>,
}

/// A listed entry that matches, above the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The entry's index in [`Index::entries`].
    pub entry: usize,
    pub entry_id: String,
    /// The listed name or alias that matched best.
    pub matched_name: String,
    pub score: f64,
    pub explanation: Explanation,
}

/// A query's working arrays, one per name indexed, kept per thread and left all zero
/// after each query: allocating and clearing them per query cost a tenth of its time.
#[derive(Default)]
struct Scratch {
    /// Per name: the evidence so far.
    evidence: Vec<f32>,
    /// Per name: the current token's best key.
    by_token: Vec<f32>,
    touched: Vec<u32>,
    found: Vec<u32>,
}

impl Scratch {
    fn fit(&mut self, names: usize) {
        if self.evidence.len() < names {
            self.evidence.resize(names, 0.0);
            self.by_token.resize(names, 0.0);
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

struct IndexedName {
    entry: u32,
    name: String,
    prepared: PreparedName,
}

/// The names of a list's entries, ready to screen against.
pub struct Index {
    entries: Vec<Entry>,
    /// Bitcoin addresses the entries list (canonical form) → entries.
    addresses: HashMap<String, Vec<u32>>,
    names: Vec<IndexedName>,
    /// Key (see [`Key`]) → the names found under it.
    keys: FxHashMap<Key, Vec<u32>>,
    metaphone: DoubleMetaphone,
}

/// How a token is found: its text, skeleton, phonetic codes, one-deletion neighbours and
/// 4-letter prefix, each under its own tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Tag {
    Exact = b'=' as isize,
    Skeleton = b'%' as isize,
    Deletion = b'~' as isize,
    Phonetic = b'#' as isize,
    Prefix = b'^' as isize,
}

impl Tag {
    /// What a key of this tag says about a name, before its rarity is counted.
    fn strength(self) -> f32 {
        match self {
            Tag::Exact => 3.0,
            Tag::Skeleton => 2.5,
            Tag::Deletion => 2.0,
            Tag::Phonetic | Tag::Prefix => 1.0,
        }
    }
}

/// A key as a 64-bit hash of its tag and text, with the tag kept beside it: hashing the
/// bytes once replaced a string built and compared per key, which was a fifth of a
/// query's time (`memcmp`, `malloc`). Two keys that collide only merge their candidate
/// lists; every candidate is still scored on its real tokens.
type Key = (Tag, u64);

/// Builds keys from text without allocating (a deletion neighbour is assembled in `buf`).
#[derive(Default)]
struct KeyWriter {
    buf: Vec<u8>,
}

impl KeyWriter {
    fn key(tag: Tag, bytes: &[u8]) -> Key {
        let mut hasher = FxHasher::default();
        hasher.write(bytes);
        (tag, hasher.finish())
    }

    /// The keys `token` is found under.
    fn keys_of(&mut self, token: &Prepared, out: &mut Vec<Key>) {
        let text = token.text.as_str();
        out.push(Self::key(Tag::Exact, text.as_bytes()));
        out.push(Self::key(Tag::Skeleton, token.skeleton.as_bytes()));
        out.extend(
            token
                .phonetic_codes()
                .map(|code| Self::key(Tag::Phonetic, code.as_bytes())),
        );
        if text.len() >= 4 {
            for (at, c) in text.char_indices() {
                self.buf.clear();
                self.buf.extend_from_slice(&text.as_bytes()[..at]);
                self.buf
                    .extend_from_slice(&text.as_bytes()[at + c.len_utf8()..]);
                out.push(Self::key(Tag::Deletion, &self.buf));
            }
            out.push(Self::key(Tag::Prefix, &text.as_bytes()[..4]));
        }
        // The token itself as a deletion neighbour: a listed token one letter short of
        // the caller's, or the caller's one letter short of a listed one.
        out.push(Self::key(Tag::Deletion, text.as_bytes()));
    }
}

impl Index {
    pub fn new(entries: Vec<Entry>) -> Self {
        let metaphone = DoubleMetaphone::default();
        let mut names = Vec::new();
        let mut keys: FxHashMap<Key, Vec<u32>> = FxHashMap::default();
        let mut writer = KeyWriter::default();
        let mut scratch = Vec::new();
        for (at, entry) in entries.iter().enumerate() {
            for listed in &entry.names {
                let prepared = PreparedName::new(&normalize(&listed.name), &metaphone);
                let id = u32::try_from(names.len()).expect("fewer than 4 billion names");
                scratch.clear();
                for token in prepared
                    .tokens
                    .iter()
                    .chain(prepared.glued.iter().map(|g| &g.token))
                {
                    if !token.initial {
                        writer.keys_of(token, &mut scratch);
                    }
                }
                scratch.sort_unstable_by_key(|&(tag, hash)| (tag as u8, hash));
                scratch.dedup();
                for key in scratch.drain(..) {
                    keys.entry(key).or_default().push(id);
                }
                names.push(IndexedName {
                    entry: u32::try_from(at).expect("fewer than 4 billion entries"),
                    name: listed.name.clone(),
                    prepared,
                });
            }
        }
        let mut addresses: HashMap<String, Vec<u32>> = HashMap::new();
        for (at, entry) in entries.iter().enumerate() {
            for (_, address) in entry.addresses.iter().filter(|(t, _)| t == "XBT") {
                // A listed "XBT" address that is not one (a Tron address, one cut short
                // by OFAC's remarks limit) is reported at import, never matched.
                if let Ok(canonical) = crate::bitcoin_address(address, bitcoin::Network::Bitcoin) {
                    addresses.entry(canonical).or_default().push(at as u32);
                }
            }
        }
        Self {
            entries,
            addresses,
            names,
            keys,
            metaphone,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries that list `address` (a mainnet Bitcoin address, in any case bech32
    /// allows), by index in [`Index::entries`].
    pub fn entries_with_address(&self, address: &str) -> Vec<usize> {
        let canonical = crate::bitcoin_address(address, bitcoin::Network::Bitcoin)
            .unwrap_or_else(|_| address.trim().to_string());
        self.addresses
            .get(&canonical)
            .map(|ids| ids.iter().map(|&i| i as usize).collect())
            .unwrap_or_default()
    }

    /// Names and aliases indexed.
    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    /// The names the caller's tokens found, by evidence, best [`MAX_CANDIDATES`] first.
    fn candidates(&self, prepared: &PreparedName, scratch: &mut Scratch) -> Vec<(u32, f32)> {
        scratch.fit(self.names.len());
        let Scratch {
            evidence,
            by_token,
            touched,
            found,
        } = scratch;
        let mut keys = Vec::new();
        let mut writer = KeyWriter::default();
        for token in prepared
            .tokens
            .iter()
            .chain(prepared.glued.iter().map(|g| &g.token))
            .filter(|t| !t.initial)
        {
            keys.clear();
            writer.keys_of(token, &mut keys);
            for key in &keys {
                let Some(ids) = self.keys.get(key).filter(|ids| ids.len() <= MAX_POSTINGS) else {
                    continue;
                };
                let strength = key.0.strength() / (ids.len() as f32).ln_1p().max(1.0);
                for &id in ids {
                    let best = &mut by_token[id as usize];
                    if *best == 0.0 {
                        touched.push(id);
                    }
                    *best = best.max(strength);
                }
            }
            for id in touched.drain(..) {
                let at = id as usize;
                if evidence[at] == 0.0 {
                    found.push(id);
                }
                evidence[at] += std::mem::take(&mut by_token[at]);
            }
        }
        // Every slot back to zero for the next query.
        let mut candidates: Vec<(u32, f32)> = found
            .drain(..)
            .map(|id| (id, std::mem::take(&mut evidence[id as usize])))
            .collect();
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        candidates.truncate(MAX_CANDIDATES);
        candidates
    }

    /// The entries matching `query` at `threshold` or above, best first, one hit per entry
    /// (its best name), at most [`MAX_HITS`].
    pub fn screen(&self, query: &Query, threshold: f64) -> Vec<Hit> {
        let mut tokens = normalize(&query.name);
        tokens.truncate(MAX_QUERY_TOKENS);
        let prepared = PreparedName::new(&tokens, &self.metaphone);
        // Per name: the evidence the caller's tokens found it by. A token adds its best
        // key for the name: an exact token counts most, a phonetic code least, and a key
        // shared by many names less than a rare one. Dense arrays: a common token's keys
        // reach thousands of names, and hashing each was most of a query's time.
        let candidates = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            self.candidates(&prepared, &mut scratch)
        });
        let mut best: HashMap<u32, Hit> = HashMap::new();
        for (id, _) in candidates {
            let name = &self.names[id as usize];
            let entry = &self.entries[name.entry as usize];
            // The reasons are worked out only for a name that may reach the threshold.
            let raw = score_only(&prepared, &name.prepared);
            if raw == 0.0 || raw + MAX_RAISE < threshold {
                continue;
            }
            let (raw, mut explanation) = score(&prepared, &name.prepared);
            let adjusted = qualify(raw, query, entry, &mut explanation);
            if adjusted < threshold {
                continue;
            }
            let better = best.get(&name.entry).is_none_or(|h| adjusted > h.score);
            if better {
                best.insert(
                    name.entry,
                    Hit {
                        entry: name.entry as usize,
                        entry_id: entry.id.clone(),
                        matched_name: name.name.clone(),
                        score: adjusted,
                        explanation,
                    },
                );
            }
        }
        let mut hits: Vec<Hit> = best.into_values().collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.entry.cmp(&b.entry)));
        hits.truncate(MAX_HITS);
        hits
    }
}

/// The most the qualifiers raise a score by (a country and a birth year that match).
const MAX_RAISE: f64 = COUNTRY_MATCHES + BIRTH_YEAR_MATCHES;
const COUNTRY_MATCHES: f64 = 0.05;
const BIRTH_YEAR_MATCHES: f64 = 0.05;

/// The name score moved by what else the caller knows: the kind (a person is not a
/// vessel), the country and the year of birth.
fn qualify(score: f64, query: &Query, entry: &Entry, why: &mut Explanation) -> f64 {
    let mut adjustments = Vec::new();
    let kind_matches = match query.kind {
        QueryKind::Any => None,
        QueryKind::Person => Some(entry.kind == EntryKind::Person),
        QueryKind::Organization => Some(entry.kind == EntryKind::Organization),
        QueryKind::Vessel => Some(entry.kind == EntryKind::Vessel),
    };
    if kind_matches == Some(false) {
        adjustments.push(("kind differs".to_string(), -0.2));
    }
    if let Some(country) = query
        .country
        .as_deref()
        .filter(|_| !entry.countries.is_empty())
    {
        let wanted = country_key(country);
        let same = entry.countries.iter().any(|c| country_key(c) == wanted);
        adjustments.push(if same {
            ("country matches".to_string(), COUNTRY_MATCHES)
        } else {
            ("country differs".to_string(), -0.1)
        });
    }
    if let Some(year) = query.birth_year.filter(|_| !entry.birth_years.is_empty()) {
        let closest = entry
            .birth_years
            .iter()
            .map(|y| y.abs_diff(year))
            .min()
            .unwrap_or(u16::MAX);
        match closest {
            0 => adjustments.push(("birth year matches".to_string(), BIRTH_YEAR_MATCHES)),
            1 => {}
            _ => adjustments.push(("birth year differs".to_string(), -0.15)),
        }
    }
    let total: f64 = adjustments.iter().map(|(_, e)| e).sum();
    why.adjustments = adjustments;
    (score + total).clamp(0.0, 1.0)
}
