//! How well one name matches one listed name, with the reasons. Tokens are paired best
//! first (order does not matter); each pair is exact, an initial, a truncation, a typo or
//! transposition (Damerau-Levenshtein within a budget that grows with length), a spelling
//! that sounds alike (Double Metaphone) or close by Jaro-Winkler. The score is a weighted
//! Dice coefficient over the tokens: matched pairs count their similarity on both sides;
//! a token left over counts against, less so on the listed side (a list often carries
//! middle names a caller omits) than on the caller's.

use std::fmt;

use rphonetic::DoubleMetaphone;

use crate::normalize::{skeleton, Token, TokenClass};

/// What an unmatched caller's token weighs against the score, relative to a matched one.
const EXTRA_QUERY_WEIGHT: f64 = 0.6;
/// What an unmatched listed token weighs (a middle name the caller left out).
const MISSING_LISTED_WEIGHT: f64 = 0.35;
/// An initial weighs half a name.
const INITIAL_WEIGHT: f64 = 0.5;
/// A name of two or more name tokens matched on one of them only (a shared first name, a
/// surname alone, a surname and one initial) scores at most this: below any sensible
/// threshold. Initials count half a name.
const ONE_TOKEN_CAP: f64 = 0.7;
/// Jaro-Winkler similarity a token pair needs when nothing else pairs it.
const MIN_JARO_WINKLER: f64 = 0.9;

/// How a pair of tokens matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    Exact,
    /// A letter for the name it starts.
    Initial,
    /// One is the beginning of the other (at least 4 letters).
    Truncated,
    /// Within a few edits (typos, transpositions, missing or doubled letters).
    Typo,
    /// Spelled differently, sounds alike.
    Phonetic,
    /// The same name in another transliteration or spelling (`dzhamal`, `jamal`).
    Spelling,
    /// A particle glued to a name on one side (`alassad` for `al assad`).
    Joined,
}

impl MatchKind {
    fn as_str(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Initial => "initial",
            MatchKind::Truncated => "truncated",
            MatchKind::Typo => "typo",
            MatchKind::Phonetic => "phonetic",
            MatchKind::Spelling => "spelling",
            MatchKind::Joined => "joined",
        }
    }
}

/// One paired token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenMatch {
    pub query: String,
    pub listed: String,
    pub kind: MatchKind,
    pub similarity: f64,
}

/// Why a name scored what it did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Explanation {
    pub matched: Vec<TokenMatch>,
    /// The caller's tokens nothing on the list matched.
    pub extra: Vec<String>,
    /// The listed tokens the caller did not give.
    pub missing: Vec<String>,
    /// Qualifiers that moved the score (country, birth year, kind), with their effect.
    pub adjustments: Vec<(String, f64)>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .matched
            .iter()
            .map(|m| {
                format!(
                    "{}~{} ({} {:.2})",
                    m.query,
                    m.listed,
                    m.kind.as_str(),
                    m.similarity
                )
            })
            .collect();
        if !self.extra.is_empty() {
            parts.push(format!("not on the list: {}", self.extra.join(" ")));
        }
        if !self.missing.is_empty() {
            parts.push(format!("not given: {}", self.missing.join(" ")));
        }
        for (what, effect) in &self.adjustments {
            parts.push(format!("{what} {effect:+.2}"));
        }
        f.write_str(&parts.join("; "))
    }
}

/// A token ready for comparison: its phonetic codes and skeleton computed once.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub text: String,
    pub initial: bool,
    phonetic: [String; 2],
    /// See [`skeleton`].
    pub skeleton: String,
    /// How often each letter and digit occurs in `text` and in `skeleton`: a cheap lower
    /// bound on the edits between two tokens, checked before the edits are counted.
    letters: [[u8; 36]; 2],
    /// See [`is_patronymic`].
    patronymic: bool,
}

fn letter_counts(text: &str) -> [u8; 36] {
    let mut counts = [0u8; 36];
    for b in text.bytes() {
        let slot = match b {
            b'a'..=b'z' => usize::from(b - b'a'),
            b'0'..=b'9' => 26 + usize::from(b - b'0'),
            _ => continue,
        };
        counts[slot] = counts[slot].saturating_add(1);
    }
    counts
}

/// At least this many edits turn one token into the other: each edit changes the letter
/// counts by at most two.
fn edits_at_least(a: &[u8; 36], b: &[u8; 36]) -> usize {
    let differing: usize = a
        .iter()
        .zip(b)
        .map(|(x, y)| usize::from(x.abs_diff(*y)))
        .sum();
    differing.div_ceil(2)
}

/// The tokens one side of a pair stands for: one, or up to three glued neighbours. Kept
/// inline: a vector per pair was a tenth of a score's time in allocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Covers {
    at: [usize; 3],
    len: usize,
}

impl Covers {
    fn one(at: usize) -> Self {
        Self {
            at: [at, 0, 0],
            len: 1,
        }
    }

    /// The first three of `tokens` (a glued window is at most three wide).
    fn of(tokens: impl Iterator<Item = usize>) -> Self {
        let mut covers = Self { at: [0; 3], len: 0 };
        for token in tokens.take(3) {
            covers.at[covers.len] = token;
            covers.len += 1;
        }
        covers
    }

    pub fn as_slice(&self) -> &[usize] {
        &self.at[..self.len]
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Neighbouring tokens glued into one (`al` + `assad`, `su` + `man`).
#[derive(Debug, Clone)]
pub(crate) struct Glued {
    pub token: Prepared,
    /// The name tokens it stands for.
    pub covers: Covers,
    /// Whether a particle is part of it; without one only an exact or spelling match
    /// counts (`susan` is not `su man`).
    pub with_particle: bool,
}

/// The tokens of one name, ready for comparison: names and initials, and as alternatives
/// the neighbours glued together (`al assad` as `alassad`, `abd al rahman` as
/// `abdalrahman`).
#[derive(Debug, Clone)]
pub(crate) struct PreparedName {
    pub tokens: Vec<Prepared>,
    pub glued: Vec<Glued>,
}

impl PreparedName {
    pub fn new(tokens: &[Token], metaphone: &DoubleMetaphone) -> Self {
        let mut prepared = Vec::new();
        // Names and particles in order, with the index of each name in `prepared`.
        let mut sequence: Vec<(&str, Option<usize>)> = Vec::new();
        for token in tokens {
            match token.class {
                TokenClass::Filler => {}
                TokenClass::Particle => sequence.push((&token.text, None)),
                TokenClass::Name | TokenClass::Initial => {
                    if token.class == TokenClass::Name {
                        sequence.push((&token.text, Some(prepared.len())));
                    }
                    prepared.push(Prepared::new(&token.text, token.class, metaphone));
                }
            }
        }
        // A name made only of particles and fillers ("The Co") is matched as written.
        if prepared.is_empty() {
            for token in tokens {
                prepared.push(Prepared::new(&token.text, TokenClass::Name, metaphone));
            }
        }
        let mut glued = Vec::new();
        for width in 2..=3 {
            for window in sequence.windows(width) {
                let covers = Covers::of(window.iter().filter_map(|(_, i)| *i));
                // At least one name, not ending in a particle, and three tokens only
                // around a particle (`abd al rahman`).
                let ends_in_particle = window.last().is_some_and(|(_, i)| i.is_none());
                let middle_is_name = width == 3 && window[1].1.is_some();
                if covers.is_empty() || ends_in_particle || middle_is_name {
                    continue;
                }
                let text: String = window.iter().map(|(t, _)| *t).collect();
                glued.push(Glued {
                    token: Prepared::new(&text, TokenClass::Name, metaphone),
                    with_particle: covers.len() < width,
                    covers,
                });
            }
        }
        Self {
            tokens: prepared,
            glued,
        }
    }

    pub fn name_tokens(&self) -> usize {
        self.tokens.iter().filter(|t| !t.initial).count()
    }
}

impl Prepared {
    fn new(text: &str, class: TokenClass, metaphone: &DoubleMetaphone) -> Self {
        let initial = class == TokenClass::Initial;
        let phonetic =
            if initial || text.len() < 3 || !text.bytes().any(|b| b.is_ascii_alphabetic()) {
                [String::new(), String::new()]
            } else {
                let codes = metaphone.double_metaphone(text);
                [codes.primary(), codes.alternate()]
            };
        let folded = skeleton(text);
        Self {
            text: text.to_string(),
            initial,
            phonetic,
            letters: [letter_counts(text), letter_counts(&folded)],
            patronymic: is_patronymic(text),
            skeleton: folded,
        }
    }

    pub fn phonetic_codes(&self) -> impl Iterator<Item = &str> {
        self.phonetic
            .iter()
            .map(String::as_str)
            .filter(|c| !c.is_empty())
    }

    fn weight(&self) -> f64 {
        if self.initial {
            INITIAL_WEIGHT
        } else {
            1.0
        }
    }
}

/// Edits a token of `len` letters may carry and still be the same name.
fn edit_budget(len: usize) -> usize {
    match len {
        0..=7 => 1,
        8..=11 => 2,
        _ => 3,
    }
}

/// How `q` (the caller's) and `c` (the list's) match, if they do.
fn pair(q: &Prepared, c: &Prepared) -> Option<(MatchKind, f64)> {
    if q.text == c.text {
        return Some((MatchKind::Exact, 1.0));
    }
    if q.initial || c.initial {
        let (letter, name) = if q.initial { (q, c) } else { (c, q) };
        return (!name.initial && name.text.starts_with(&letter.text))
            .then_some((MatchKind::Initial, 0.9));
    }
    if q.skeleton.len() >= 3 && q.skeleton == c.skeleton {
        return Some((MatchKind::Spelling, 0.95));
    }
    // A patronymic is not its father's name cut short or a letter longer (`vladimirovich`,
    // `vladimir`; `ivanovna`, `ivanova`); a patronymic spelled another way still matches.
    if (q.patronymic && fathers_name(&q.text, &c.text))
        || (c.patronymic && fathers_name(&c.text, &q.text))
    {
        return None;
    }
    let (short, long) = if q.text.len() <= c.text.len() {
        (&q.text, &c.text)
    } else {
        (&c.text, &q.text)
    };
    // Cut at five letters or more (`muham`), or keeping two thirds of a short name
    // (`hass` for `hassan`; not `char` for `charles` nor `john` for `johnson`).
    let cut = short.len() >= 5 || (short.len() == 4 && short.len() * 3 >= long.len() * 2);
    if cut && long.starts_with(short.as_str()) {
        return Some((MatchKind::Truncated, 0.9));
    }
    let budget = edit_budget(short.len());
    let skeleton_gap = q.skeleton.len().abs_diff(c.skeleton.len());
    if long.len() - short.len() > budget && skeleton_gap > budget {
        // Too far apart in length for a typo; only a sound-alike is left.
        return sounds_alike(q, c, short.len(), long.len());
    }
    // A short name that differs in its first letter is another name (`wang`, `kang`).
    let same_first = q.text.as_bytes().first() == c.text.as_bytes().first();
    if short.len() > 5 || same_first {
        // Optimal string alignment (typos and adjacent transpositions), on the text and on
        // the skeleton, each only when the letters leave room for it.
        let within = |a: &str, b: &str, which: usize| {
            (edits_at_least(&q.letters[which], &c.letters[which]) <= budget)
                .then(|| strsim::osa_distance(a, b))
                .filter(|&edits| edits <= budget)
        };
        let edits = within(&q.text, &c.text, 0).or_else(|| within(&q.skeleton, &c.skeleton, 1));
        if let Some(edits) = edits {
            let by_edits = 1.0 - edits as f64 / long.len() as f64;
            let jaro_winkler = strsim::jaro_winkler(&q.text, &c.text);
            return Some((MatchKind::Typo, by_edits.max(jaro_winkler).max(0.85)));
        }
    }
    if let Some(alike) = sounds_alike(q, c, short.len(), long.len()) {
        return Some(alike);
    }
    if !same_first {
        return None;
    }
    let jaro_winkler = strsim::jaro_winkler(&q.text, &c.text);
    (jaro_winkler >= MIN_JARO_WINKLER).then_some((MatchKind::Typo, jaro_winkler))
}

/// Tokens of four letters or more, of about one length (four-letter codes say little
/// about a long token), that share a Double Metaphone code and are close by Jaro-Winkler.
fn sounds_alike(q: &Prepared, c: &Prepared, short: usize, long: usize) -> Option<(MatchKind, f64)> {
    // Up to five letters, only of one length (`rios` is not `rossi`).
    let lengths_fit = if short <= 5 {
        long == short
    } else {
        long - short <= 2
    };
    if short < 4 || !lengths_fit {
        return None;
    }
    let shared = q
        .phonetic_codes()
        .any(|a| c.phonetic_codes().any(|b| a == b));
    if !shared {
        return None;
    }
    let jaro_winkler = strsim::jaro_winkler(&q.text, &c.text);
    (jaro_winkler >= 0.8).then_some((MatchKind::Phonetic, jaro_winkler.max(0.88)))
}

/// Whether `token` is an East Slavic patronymic (`-ovich`, `-evna`, …).
fn is_patronymic(token: &str) -> bool {
    const SUFFIXES: [&str; 9] = [
        "ovich", "evich", "ovych", "evych", "ovna", "evna", "ivna", "ovic", "evic",
    ];
    token.len() >= 7 && SUFFIXES.iter().any(|suffix| token.ends_with(suffix))
}

/// Whether the patronymic `patronymic` is built on `name` (all of it, or all but its
/// last letter: `ivanova`, `ivanovna`).
fn fathers_name(patronymic: &str, name: &str) -> bool {
    let shared = patronymic
        .bytes()
        .zip(name.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    patronymic.len() > name.len() && shared + 1 >= name.len()
}

/// How one token matches glued neighbours on the other side: exactly or as a spelling
/// variant, or within a typo when a particle is glued in (`abdulrahman`, `abd al rahman`).
fn glued_pair(token: &Prepared, glued: &Glued) -> Option<(MatchKind, f64)> {
    if token.initial {
        return None;
    }
    match pair(token, &glued.token)? {
        (MatchKind::Exact, _) => Some((MatchKind::Joined, 0.97)),
        (MatchKind::Spelling, s) => Some((MatchKind::Spelling, s)),
        (MatchKind::Typo, s) if glued.with_particle => Some((MatchKind::Typo, s.min(0.95))),
        _ => None,
    }
}

/// One way to pair tokens: similarity, kind, the caller's tokens, the list's tokens.
type Pairing = (f64, MatchKind, Covers, Covers);

/// The score of `query` against `listed` in [0, 1], and why.
pub(crate) fn score(query: &PreparedName, listed: &PreparedName) -> (f64, Explanation) {
    let mut explanation = Explanation::default();
    let score = pair_up(query, listed, Some(&mut explanation));
    (score, explanation)
}

/// The score alone, as [`score`] computes it, without the explanation's strings: most
/// candidates a query scores fall below the threshold, and their reasons are never read.
pub(crate) fn score_only(query: &PreparedName, listed: &PreparedName) -> f64 {
    pair_up(query, listed, None)
}

/// Pairs the tokens best first and scores the result; `why`, when given, gets the reasons.
fn pair_up(query: &PreparedName, listed: &PreparedName, mut why: Option<&mut Explanation>) -> f64 {
    let mut pairs: Vec<Pairing> = Vec::new();
    for (qi, q) in query.tokens.iter().enumerate() {
        for (ci, c) in listed.tokens.iter().enumerate() {
            if let Some((kind, similarity)) = pair(q, c) {
                pairs.push((similarity, kind, Covers::one(qi), Covers::one(ci)));
            }
        }
        for glued in &listed.glued {
            if let Some((kind, similarity)) = glued_pair(q, glued) {
                pairs.push((similarity, kind, Covers::one(qi), glued.covers));
            }
        }
    }
    for glued in &query.glued {
        for (ci, c) in listed.tokens.iter().enumerate() {
            if let Some((kind, similarity)) = glued_pair(c, glued) {
                pairs.push((similarity, kind, glued.covers, Covers::one(ci)));
            }
        }
    }
    // Best first; ties to the pairing that covers more tokens.
    pairs.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then((b.2.len() + b.3.len()).cmp(&(a.2.len() + a.3.len())))
    });
    let mut query_used = vec![false; query.tokens.len()];
    let mut listed_used = vec![false; listed.tokens.len()];
    let (mut numerator, mut denominator) = (0.0, 0.0);
    // Names matched; an initial counts half.
    let mut matched_names = 0.0;
    for (similarity, kind, qs, cs) in pairs {
        let (qs, cs) = (qs.as_slice(), cs.as_slice());
        if qs.iter().any(|&i| query_used[i]) || cs.iter().any(|&i| listed_used[i]) {
            continue;
        }
        let weight: f64 = qs.iter().map(|&i| query.tokens[i].weight()).sum::<f64>()
            + cs.iter().map(|&i| listed.tokens[i].weight()).sum::<f64>();
        for &i in qs {
            query_used[i] = true;
        }
        for &i in cs {
            listed_used[i] = true;
        }
        numerator += similarity * weight;
        denominator += weight;
        matched_names += if kind == MatchKind::Initial {
            0.5
        } else {
            qs.len().max(cs.len()) as f64
        };
        let text = |name: &PreparedName, at: &[usize]| {
            at.iter()
                .map(|&i| name.tokens[i].text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        if let Some(why) = why.as_deref_mut() {
            why.matched.push(TokenMatch {
                query: text(query, qs),
                listed: text(listed, cs),
                kind,
                similarity,
            });
        }
    }
    for (q, used) in query.tokens.iter().zip(&query_used) {
        if !used {
            denominator += q.weight() * EXTRA_QUERY_WEIGHT;
            if let Some(why) = why.as_deref_mut() {
                why.extra.push(q.text.clone());
            }
        }
    }
    for (c, used) in listed.tokens.iter().zip(&listed_used) {
        if !used {
            denominator += c.weight() * MISSING_LISTED_WEIGHT;
            if let Some(why) = why.as_deref_mut() {
                why.missing.push(c.text.clone());
            }
        }
    }
    if matched_names < 1.0 || denominator == 0.0 {
        return 0.0;
    }
    let mut score = numerator / denominator;
    if matched_names < 2.0 && listed.name_tokens() >= 2 {
        score = score.min(ONE_TOKEN_CAP);
    }
    score.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    fn s(query: &str, listed: &str) -> f64 {
        let m = DoubleMetaphone::default();
        let q = PreparedName::new(&normalize(query), &m);
        let c = PreparedName::new(&normalize(listed), &m);
        score(&q, &c).0
    }

    #[test]
    fn order_particles_and_case_do_not_matter() {
        assert_eq!(s("Bashar al-Assad", "AL-ASSAD, Bashar"), 1.0);
        assert!(s("Bashar Assad", "AL-ASSAD, Bashar") >= 0.95);
        assert!(s("Bashar Alassad", "AL-ASSAD, Bashar") >= 0.95);
    }

    #[test]
    fn damage_keeps_a_high_score() {
        for (query, listed) in [
            ("Vladimir Putin", "PUTIN, Vladimir Vladimirovich"),
            ("Vladimir Puitn", "PUTIN, Vladimir Vladimirovich"),
            ("Wladimir Poutine", "PUTIN, Vladimir Vladimirovich"),
            ("V. V. Putin", "PUTIN, Vladimir Vladimirovich"),
            ("Osama bin Laden", "BIN LADIN, Usama"),
        ] {
            let got = s(query, listed);
            assert!(got >= 0.8, "{query} vs {listed}: {got}");
        }
    }

    #[test]
    fn different_people_score_low() {
        for (query, listed) in [
            ("John Smith", "PUTIN, Vladimir Vladimirovich"),
            ("Vladimir Nabokov", "PUTIN, Vladimir Vladimirovich"),
            ("Maria Garcia", "GARCIA LOPEZ, Jose"),
            ("Vladimir Romano", "STAROVOYT, Roman Vladimirovich"),
            ("Valentina Ivanova", "MATVIYENKO, Valentina Ivanovna"),
        ] {
            let got = s(query, listed);
            assert!(got < 0.75, "{query} vs {listed}: {got}");
        }
    }

    #[test]
    fn glued_neighbours_match_one_token() {
        for (query, listed) in [
            ("Abdulrahman Mohamed", "ABD AL-RAHMAN, Muhammad"),
            ("Abd al Rahman Muhammad", "ABDULRAHMAN, Muhammad"),
        ] {
            let got = s(query, listed);
            assert!(got >= 0.8, "{query} vs {listed}: {got}");
        }
    }

    #[test]
    fn the_explanation_names_each_pair() {
        let m = DoubleMetaphone::default();
        let q = PreparedName::new(&normalize("Bashar xal-Assad"), &m);
        let c = PreparedName::new(&normalize("AL-ASSAD, Bashar"), &m);
        let (got, why) = score(&q, &c);
        assert!(got >= 0.8, "{got}");
        let text = why.to_string();
        assert!(text.contains("bashar~bashar (exact 1.00)"), "{text}");
        assert!(text.contains("not on the list: xal"), "{text}");
    }
}
