//! `screening`: sanctions and PEP screening as pure logic — list files parsed into
//! entries, names reduced to comparable tokens, and a matcher that scores a name against
//! every listed name and alias with an explanation. No store, no IO beyond the bytes it is
//! handed, no HTTP: the compliance crate keeps list versions, hits and clearances.
//!
//! Names survive what real data does to them: scripts are transliterated to Latin
//! (`any_ascii`: Cyrillic, Greek, Arabic, …), diacritics, case, punctuation, invisible
//! characters and compatibility forms (full-width letters, ligatures) are folded away, token
//! order does not matter, titles and legal forms are ignored, name particles (`al-`,
//! `bin`, `van`) may be kept, dropped or glued to the next token, initials match their
//! name, and tokens match through typos, transpositions, truncation and spellings that
//! sound alike (Jaro-Winkler, Damerau-Levenshtein, Double Metaphone).

mod addresses;
mod country;
mod entry;
mod error;
mod index;
mod normalize;
mod ofac;
mod opensanctions;
pub mod quality;
mod score;

/// The score a name must reach to be a hit, unless the caller asks for another.
pub const DEFAULT_THRESHOLD: f64 = 0.8;

pub use crate::addresses::{bitcoin_address, parse_bitcoin_addresses, AddressList, RefusedAddress};
pub use crate::country::country_key;
pub use crate::entry::{Entry, EntryKind, ListName};
pub use crate::error::ListError;
pub use crate::index::{Hit, Index, Query, QueryKind};
pub use crate::normalize::{normalize, Token};
pub use crate::ofac::{parse_ofac, OfacFiles};
pub use crate::opensanctions::{parse_ftm, parse_simple};
pub use crate::score::{Explanation, MatchKind, TokenMatch};
