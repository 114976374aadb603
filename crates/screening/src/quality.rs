//! Screening quality, measured on a list: listed names damaged the ways real data damages
//! them (each kind separately), and names that are not listed (common names from many
//! countries, and near misses: a listed name with one part swapped for an unrelated one).
//! Recall is the share of damaged variants whose hits include the entry they came from;
//! the false-positive rate is the share of unlisted names with any hit. Deterministic for
//! a seed, so a change to the matcher is compared on the same names.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::normalize::{normalize, TokenClass};
use crate::{EntryKind, Index, Query, QueryKind};

/// The damage done to a listed name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Damage {
    // Benign: how the same name is legitimately written elsewhere.
    Transliteration,
    Diacritics,
    Order,
    Particles,
    Initials,
    Titles,
    Punctuation,
    Case,
    // Degraded or adversarial.
    Typo,
    Transposition,
    MissingLetter,
    Homoglyphs,
    Invisible,
    Phonetic,
    Truncation,
    DroppedMiddleName,
}

impl Damage {
    /// Benign damage must be found ≥ 98% of the time; the rest ≥ 90%.
    pub fn benign(self) -> bool {
        matches!(
            self,
            Damage::Transliteration
                | Damage::Diacritics
                | Damage::Order
                | Damage::Particles
                | Damage::Initials
                | Damage::Titles
                | Damage::Punctuation
                | Damage::Case
        )
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Recall for one kind of damage.
#[derive(Debug, Clone, PartialEq)]
pub struct Recall {
    pub damage: Damage,
    pub found: usize,
    pub tried: usize,
}

impl Recall {
    pub fn rate(&self) -> f64 {
        if self.tried == 0 {
            1.0
        } else {
            self.found as f64 / self.tried as f64
        }
    }
}

/// What [`measure`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    pub threshold: f64,
    pub recall: Vec<Recall>,
    pub unlisted: usize,
    pub false_positives: usize,
    /// Some unlisted names that hit, with what they hit (for tuning).
    pub false_positive_examples: Vec<(String, String)>,
    /// Some variants that were missed, per damage.
    pub missed_examples: Vec<(Damage, String, String)>,
}

impl Quality {
    pub fn false_positive_rate(&self) -> f64 {
        self.false_positives as f64 / self.unlisted.max(1) as f64
    }

    /// Found over tried, for benign (`true`) or other damage.
    pub fn recall_of(&self, benign: bool) -> f64 {
        let (found, tried) = self
            .recall
            .iter()
            .filter(|r| r.damage.benign() == benign)
            .fold((0, 0), |(f, t), r| (f + r.found, t + r.tried));
        found as f64 / tried.max(1) as f64
    }
}

const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Emma",
    "Lukas",
    "Sophie",
    "Jan",
    "Anna",
    "Pierre",
    "Claire",
    "Giulia",
    "Marco",
    "Lucia",
    "Javier",
    "Carmen",
    "Pedro",
    "Ines",
    "Sven",
    "Ingrid",
    "Piotr",
    "Agnieszka",
    "Yuki",
    "Haruto",
    "Wei",
    "Mei",
    "Raj",
    "Priya",
    "Chinedu",
    "Amara",
    "Kwame",
    "Olga",
    "Dmitri",
    "Fatima",
    "Omar",
    "Leila",
    "Mehmet",
    "Ayse",
    "Thabo",
    "Nomvula",
    "Tomas",
    "Eva",
    "Mateo",
    "Valentina",
];

const SURNAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Jackson",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Mueller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Dubois",
    "Moreau",
    "Laurent",
    "Rossi",
    "Bianchi",
    "Romano",
    "Garcia",
    "Fernandez",
    "Gonzalez",
    "Lopez",
    "Nowak",
    "Kowalski",
    "Johansson",
    "Lindqvist",
    "Tanaka",
    "Suzuki",
    "Zhang",
    "Wang",
    "Patel",
    "Sharma",
    "Okafor",
    "Mensah",
    "Ivanova",
    "Sokolov",
    "Yilmaz",
    "Demir",
    "Nkosi",
    "Dlamini",
    "Novak",
    "Horvat",
    "Silva",
    "Santos",
    "Costa",
    "Jensen",
    "Larsen",
];

fn cyrillic(c: char) -> &'static str {
    match c.to_ascii_lowercase() {
        'a' => "а",
        'b' => "б",
        'v' => "в",
        'g' => "г",
        'd' => "д",
        'e' => "е",
        'z' => "з",
        'i' => "и",
        'y' => "ы",
        'k' => "к",
        'l' => "л",
        'm' => "м",
        'n' => "н",
        'o' => "о",
        'p' => "п",
        'r' => "р",
        's' => "с",
        't' => "т",
        'u' => "у",
        'f' => "ф",
        'h' => "х",
        'c' => "к",
        'j' => "дж",
        'w' => "в",
        'x' => "кс",
        'q' => "к",
        _ => "",
    }
}

fn accent(c: char) -> char {
    match c {
        'a' => 'á',
        'e' => 'é',
        'i' => 'í',
        'o' => 'ö',
        'u' => 'ü',
        'n' => 'ñ',
        'c' => 'ç',
        'A' => 'Á',
        'E' => 'É',
        'I' => 'Í',
        'O' => 'Ö',
        'U' => 'Ü',
        'N' => 'Ñ',
        'C' => 'Ç',
        other => other,
    }
}

/// Latin letters and the Cyrillic or Greek letters drawn the same.
fn homoglyph(c: char) -> char {
    match c {
        'a' => 'а',
        'e' => 'е',
        'o' => 'о',
        'c' => 'с',
        'x' => 'х',
        'i' => 'і',
        'A' => 'А',
        'E' => 'Е',
        'O' => 'О',
        'C' => 'С',
        'X' => 'Х',
        'B' => 'В',
        'H' => 'Н',
        'K' => 'К',
        'M' => 'М',
        'T' => 'Т',
        'I' => 'І',
        other => other,
    }
}

/// The name's words, without OFAC's comma (`AL-ASSAD, Bashar` → `Bashar AL-ASSAD`).
fn words(name: &str) -> Vec<String> {
    let natural = match name.split_once(',') {
        Some((last, first)) => format!("{} {}", first.trim(), last.trim()),
        None => name.to_string(),
    };
    natural.split_whitespace().map(str::to_string).collect()
}

/// One word long enough to damage, by index.
fn long_word(words: &[String], rng: &mut StdRng) -> Option<usize> {
    let long: Vec<usize> = (0..words.len())
        .filter(|&i| words[i].chars().count() >= 5)
        .collect();
    long.choose(rng).copied()
}

fn edit_word(words: &mut [String], rng: &mut StdRng, edit: impl Fn(&mut Vec<char>, usize)) -> bool {
    let Some(at) = long_word(words, rng) else {
        return false;
    };
    let mut chars: Vec<char> = words[at].chars().collect();
    // Not the first letter: a typo there is rarer and every matcher keys on it.
    let position = rng.random_range(1..chars.len() - 1);
    edit(&mut chars, position);
    words[at] = chars.into_iter().collect();
    true
}

/// `name` damaged by `damage`, or `None` when that damage does not apply to it.
pub fn damage(name: &str, kind: EntryKind, damage: Damage, rng: &mut StdRng) -> Option<String> {
    let mut w = words(name);
    let joined = |w: &[String]| w.join(" ");
    match damage {
        Damage::Transliteration => Some(
            w.iter()
                .map(|word| word.chars().map(cyrillic).collect::<String>())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Damage::Diacritics => Some(joined(&w).chars().map(accent).collect()),
        Damage::Order => {
            if w.len() < 2 {
                return None;
            }
            w.rotate_left(1);
            Some(joined(&w))
        }
        Damage::Particles => {
            let particle = |word: &String| matches!(normalize(word).as_slice(), [t] if t.class == TokenClass::Particle);
            if let Some(at) = w.iter().position(particle) {
                w.remove(at);
            } else if let Some(word) = w.iter_mut().rev().find(|word| word.contains('-')) {
                // `AL-ASSAD` written without its hyphen or particle.
                *word = word.replace('-', "");
            } else {
                let at = w.len() - 1;
                w[at] = format!("al-{}", w[at]);
            }
            Some(joined(&w))
        }
        Damage::Initials => {
            // People write initials; an organisation's initials are its name.
            if w.len() < 3 || kind != EntryKind::Person {
                return None;
            }
            let at = rng.random_range(0..w.len() - 1);
            w[at] = format!("{}.", w[at].chars().next()?);
            Some(joined(&w))
        }
        Damage::Titles => {
            let title = ["Mr.", "Dr.", "Sheikh", "Gen.", "Mrs."].choose(rng)?;
            Some(format!("{title} {}", joined(&w)))
        }
        Damage::Punctuation => Some(joined(&w).replace(' ', [", ", "-", ". ", " / "].choose(rng)?)),
        Damage::Case => Some(
            joined(&w)
                .chars()
                .map(|c| {
                    if rng.random_bool(0.5) {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect(),
        ),
        Damage::Typo => {
            let letter = char::from(b'a' + rng.random_range(0..26u8));
            edit_word(&mut w, rng, |chars, at| chars[at] = letter).then(|| joined(&w))
        }
        Damage::Transposition => {
            edit_word(&mut w, rng, |chars, at| chars.swap(at, at + 1)).then(|| joined(&w))
        }
        Damage::MissingLetter => edit_word(&mut w, rng, |chars, at| {
            chars.remove(at);
        })
        .then(|| joined(&w)),
        Damage::Homoglyphs => Some(joined(&w).chars().map(homoglyph).collect()),
        Damage::Invisible => {
            let mut out = String::new();
            for (i, c) in joined(&w).chars().enumerate() {
                out.push(c);
                if i % 3 == 1 {
                    out.push(['\u{200B}', '\u{200D}', '\u{00AD}', '\u{FEFF}'][i % 4]);
                }
            }
            Some(out)
        }
        Damage::Phonetic => {
            let text = joined(&w).to_lowercase();
            for (from, to) in [
                ("ph", "f"),
                ("ck", "k"),
                ("ou", "u"),
                ("oo", "u"),
                ("ee", "i"),
                ("kh", "h"),
                ("sh", "ch"),
                ("y", "i"),
                ("z", "s"),
                ("w", "v"),
                ("c", "k"),
                ("q", "k"),
                ("u", "ou"),
                ("i", "y"),
            ] {
                if text.contains(from) {
                    return Some(text.replacen(from, to, 1));
                }
            }
            None
        }
        Damage::Truncation => {
            let at = long_word(&w, rng)?;
            let keep = w[at].chars().count().saturating_sub(2).max(4);
            w[at] = w[at].chars().take(keep).collect();
            Some(joined(&w))
        }
        Damage::DroppedMiddleName => {
            if w.len() < 3 {
                return None;
            }
            w.remove(rng.random_range(1..w.len() - 1));
            Some(joined(&w))
        }
    }
}

/// Screens `samples` listed names under every damage and `samples` unlisted names at
/// `threshold`.
pub fn measure(index: &Index, samples: usize, threshold: f64, seed: u64) -> Quality {
    use strum::IntoEnumIterator;
    let mut rng = StdRng::seed_from_u64(seed);
    // Persons and organisations named by at least two words.
    let eligible: Vec<usize> = (0..index.entries().len())
        .filter(|&i| {
            let e = &index.entries()[i];
            matches!(e.kind, EntryKind::Person | EntryKind::Organization)
                && words(&e.names[0].name).len() >= 2
        })
        .collect();
    let picked: Vec<usize> = eligible
        .choose_multiple(&mut rng, samples)
        .copied()
        .collect();
    let mut recall = Vec::new();
    let mut missed_examples = Vec::new();
    for kind in Damage::iter() {
        let (mut found, mut tried) = (0, 0);
        for &at in &picked {
            let entry = &index.entries()[at];
            let Some(variant) = damage(&entry.names[0].name, entry.kind, kind, &mut rng) else {
                continue;
            };
            tried += 1;
            let query = Query {
                name: variant.clone(),
                ..Query::default()
            };
            if index
                .screen(&query, threshold)
                .iter()
                .any(|h| h.entry == at)
            {
                found += 1;
            } else if missed_examples
                .iter()
                .filter(|(d, _, _)| *d == kind)
                .count()
                < 5
            {
                missed_examples.push((kind, variant, entry.names[0].name.clone()));
            }
        }
        recall.push(Recall {
            damage: kind,
            found,
            tried,
        });
    }
    let people: Vec<usize> = picked
        .iter()
        .copied()
        .filter(|&i| index.entries()[i].kind == EntryKind::Person)
        .collect();
    let mut false_positives = 0;
    let mut false_positive_examples = Vec::new();
    for i in 0..samples {
        let name = if i % 4 == 3 {
            // A near miss: a listed person's given name with a surname they do not bear.
            let at = *people.choose(&mut rng).unwrap_or(&0);
            let listed = normalize(&words(&index.entries()[at].names[0].name).join(" "));
            let given = listed
                .iter()
                .find(|t| t.class == TokenClass::Name)
                .map_or_else(|| "anna".to_string(), |t| t.text.clone());
            let surname = SURNAMES
                .iter()
                .filter(|s| listed.iter().all(|t| t.text != s.to_lowercase()))
                .collect::<Vec<_>>()
                .choose(&mut rng)
                .map_or("Smith", |s| **s);
            format!("{given} {surname}")
        } else {
            format!(
                "{} {}",
                FIRST_NAMES.choose(&mut rng).unwrap_or(&"Anna"),
                SURNAMES.choose(&mut rng).unwrap_or(&"Smith")
            )
        };
        let query = Query {
            name: name.clone(),
            kind: QueryKind::Any,
            ..Query::default()
        };
        if let Some(hit) = index.screen(&query, threshold).first() {
            false_positives += 1;
            if false_positive_examples.len() < 10 {
                false_positive_examples.push((name, hit.matched_name.clone()));
            }
        }
    }
    Quality {
        threshold,
        recall,
        unlisted: samples,
        false_positives,
        false_positive_examples,
        missed_examples,
    }
}
