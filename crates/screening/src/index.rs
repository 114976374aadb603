//! Every listed name and alias, indexed for candidates, and the query that scores them.
//! Candidates come from exact tokens, Double Metaphone codes, one-deletion neighbours
//! (typos and transpositions within one edit share a deletion) and 4-letter prefixes
//! (truncation); only the names that share the most of the caller's tokens are scored.

use std::collections::HashMap;

use rphonetic::DoubleMetaphone;

use crate::normalize::normalize;
use crate::score::{score, Prepared, PreparedName};
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
    keys: HashMap<String, Vec<u32>>,
    metaphone: DoubleMetaphone,
}

/// The keys a token is found under (`listed`: the list's side, which also indexes its
/// one-deletion neighbours).
fn keys_of(token: &Prepared, out: &mut Vec<String>) {
    let text = token.text.as_str();
    out.push(format!("={text}"));
    out.push(format!("%{}", token.skeleton));
    out.extend(token.phonetic_codes().map(|code| format!("#{code}")));
    if text.len() >= 4 {
        for (at, _) in text.char_indices() {
            out.push(format!("~{}{}", &text[..at], &text[at + 1..]));
        }
        out.push(format!("^{}", &text[..4]));
    }
}

impl Index {
    pub fn new(entries: Vec<Entry>) -> Self {
        let metaphone = DoubleMetaphone::default();
        let mut names = Vec::new();
        let mut keys: HashMap<String, Vec<u32>> = HashMap::new();
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
                        keys_of(token, &mut scratch);
                        // The listed token itself is a deletion neighbour of a caller's
                        // token with one letter too many.
                        scratch.push(format!("~{}", token.text));
                    }
                }
                scratch.sort_unstable();
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
        for token in prepared
            .tokens
            .iter()
            .chain(prepared.glued.iter().map(|g| &g.token))
            .filter(|t| !t.initial)
        {
            keys.clear();
            keys_of(token, &mut keys);
            // A caller's token one letter short of a listed one.
            keys.push(format!("~{}", token.text));
            for key in &keys {
                let Some(ids) = self.keys.get(key).filter(|ids| ids.len() <= MAX_POSTINGS) else {
                    continue;
                };
                let strength = match key.as_bytes()[0] {
                    b'=' => 3.0,
                    b'%' => 2.5,
                    b'~' => 2.0,
                    _ => 1.0,
                } / (ids.len() as f32).ln_1p().max(1.0);
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
            let (raw, mut explanation) = score(&prepared, &name.prepared);
            if raw == 0.0 {
                continue;
            }
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
            ("country matches".to_string(), 0.05)
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
            0 => adjustments.push(("birth year matches".to_string(), 0.05)),
            1 => {}
            _ => adjustments.push(("birth year differs".to_string(), -0.15)),
        }
    }
    let total: f64 = adjustments.iter().map(|(_, e)| e).sum();
    why.adjustments = adjustments;
    (score + total).clamp(0.0, 1.0)
}
