//! Names reduced to comparable tokens: invisible characters dropped, compatibility forms
//! folded (NFKC: full-width letters, ligatures), every script transliterated to ASCII
//! (`any_ascii`; this also folds diacritics and most homoglyphs: a Cyrillic `а` in a Latin
//! name becomes `a`), lower case, apostrophes removed (`O'Brien` is `obrien`), and every
//! other non-alphanumeric character a separator. Each token is then classed: an initial,
//! a name particle, a title or legal form, or a name.

use unicode_normalization::UnicodeNormalization;

/// Name particles: kept for the explanation, not required to match, and glued to the
/// next token as an alternative (`al-Assad` also reads `alassad`).
const PARTICLES: &[&str] = &[
    "al", "el", "bin", "ibn", "bint", "ben", "ul", "ud", "de", "da", "das", "do", "dos", "del",
    "della", "di", "du", "la", "le", "van", "von", "der", "den", "ter", "st",
];

/// Honorifics and ranks: ignored anywhere in a name.
const TITLES: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "prof",
    "sir",
    "dame",
    "lord",
    "sheikh",
    "shaykh",
    "sheik",
    "hajji",
    "haji",
    "hadji",
    "mullah",
    "mulla",
    "imam",
    "sayyid",
    "sayed",
    "emir",
    "amir",
    "general",
    "gen",
    "colonel",
    "col",
    "major",
    "maj",
    "captain",
    "capt",
    "lt",
    "lieutenant",
    "sgt",
    "sergeant",
    "admiral",
    "commander",
    "president",
    "minister",
    "senator",
    "deputy",
    "judge",
    "rev",
    "father",
    "brother",
];

/// Legal forms and fillers of organisation names: ignored.
const FILLERS: &[&str] = &[
    "the",
    "and",
    "of",
    "for",
    "ltd",
    "limited",
    "llc",
    "llp",
    "lp",
    "inc",
    "incorporated",
    "co",
    "corp",
    "corporation",
    "company",
    "plc",
    "gmbh",
    "ag",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "ab",
    "as",
    "oy",
    "kg",
    "jsc",
    "ojsc",
    "pjsc",
    "cjsc",
    "ooo",
    "oao",
    "zao",
    "pao",
    "ao",
    "tov",
    "fze",
    "fzco",
    "fzc",
    "fzllc",
    "sdn",
    "bhd",
    "pte",
    "pty",
    "kft",
    "doo",
    "dd",
    "ad",
    "eood",
    "est",
    "establishment",
    "group",
    "holding",
    "holdings",
];

/// What a token is to the matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    /// A name part: must be matched for a strong score.
    Name,
    /// One letter standing for a name part.
    Initial,
    /// `al`, `bin`, `van`: may be missing on either side.
    Particle,
    /// A title or legal form: ignored.
    Filler,
}

/// One comparable piece of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// ASCII, lower case, letters and digits only.
    pub text: String,
    pub class: TokenClass,
}

/// Format characters a name may carry unseen (zero-width spaces and joiners, bidi marks,
/// soft hyphens, BOM): dropped before anything else.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}')
}

fn apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '`'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{02BC}'
            | '\u{02BB}'
            | '\u{02BF}'
            | '\u{02BE}'
            | '\u{00B4}'
    )
}

/// The Latin letter a Cyrillic or Greek letter is drawn like, for names that mix scripts
/// (a Latin name with a Cyrillic `С` is spoofed, not transliterated: `С` reads `c`, where
/// transliteration would make it `s`).
fn latin_lookalike(c: char) -> Option<char> {
    Some(match c {
        'А' | 'а' | 'Α' | 'α' => 'a',
        'В' | 'в' | 'Β' | 'β' => 'b',
        'С' | 'с' | 'ϲ' => 'c',
        'Е' | 'е' | 'Ε' | 'ε' => 'e',
        'Н' | 'н' | 'Η' => 'h',
        'І' | 'і' | 'Ι' | 'ι' => 'i',
        'Ј' | 'ј' => 'j',
        'К' | 'к' | 'Κ' | 'κ' => 'k',
        'М' | 'м' | 'Μ' => 'm',
        'Ν' => 'n',
        'О' | 'о' | 'Ο' | 'ο' => 'o',
        'Р' | 'р' | 'Ρ' | 'ρ' => 'p',
        'Ѕ' | 'ѕ' => 's',
        'Т' | 'т' | 'Τ' | 'τ' => 't',
        'У' | 'у' | 'Υ' => 'y',
        'Х' | 'х' | 'Χ' | 'χ' => 'x',
        'Ζ' => 'z',
        _ => return None,
    })
}

/// The ASCII, lower-case, single-spaced form of `name`.
fn fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    // Latin letters beside Cyrillic or Greek ones: the latter are lookalikes.
    let mixed = name.chars().any(|c| c.is_ascii_alphabetic())
        && name.chars().any(|c| latin_lookalike(c).is_some());
    for c in name.chars().filter(|&c| !invisible(c)).nfkc() {
        if let Some(latin) = latin_lookalike(c).filter(|_| mixed) {
            out.push(latin);
            continue;
        }
        if apostrophe(c) {
            continue;
        }
        let ascii = any_ascii::any_ascii_char(c);
        for a in ascii.chars() {
            if a.is_ascii_alphanumeric() {
                out.push(a.to_ascii_lowercase());
            } else if !apostrophe(a) {
                out.push(' ');
            }
        }
        if ascii.is_empty() {
            out.push(' ');
        }
    }
    out
}

/// The spelling-variant skeleton of an ASCII token: the digraphs and letters that
/// transliteration systems and spellers swap folded to one form (`dzh`, `zh`, `dj` → `j`;
/// `kh` → `h`; `ph` → `f`; `ck`, `c`, `q` → `k` but `ch` kept; `x` → `ks`; `w` → `v`;
/// `y` → `i`; `ou`, `oo` → `u`; `ee` → `i`; `z` → `s`), then doubled letters collapsed.
/// Written here because no phonetic crate folds these: Double Metaphone keeps four codes
/// and does not know Russian-style digraphs (`Dzhamal` for `Jamal`).
pub(crate) fn skeleton(token: &str) -> String {
    /// Longest first: `dzh` before `zh`, `sch` before `ch`.
    const DIGRAPHS: &[(&[u8], &[u8])] = &[
        (b"dzh", b"j"),
        (b"sch", b"sh"),
        (b"zh", b"j"),
        (b"dj", b"j"),
        (b"kh", b"h"),
        (b"ph", b"f"),
        (b"ck", b"k"),
        (b"ch", b"ch"),
        (b"ou", b"u"),
        (b"oo", b"u"),
        (b"ee", b"i"),
    ];
    let b = token.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len() + 2);
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let digraph = DIGRAPHS.iter().find(|(from, _)| rest.starts_with(from));
        let (folded, used): (&[u8], usize) = if let Some((from, to)) = digraph {
            (to, from.len())
        } else {
            let one: &[u8] = match rest[0] {
                b'c' | b'q' => b"k",
                b'x' => b"ks",
                b'w' => b"v",
                b'y' => b"i",
                b'z' => b"s",
                _ => &rest[..1],
            };
            (one, 1)
        };
        for &c in folded {
            if out.last() != Some(&c) {
                out.push(c);
            }
        }
        i += used;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// A title or legal form, also misspelled by a letter or transliterated back
/// (`kompany`, `limitid`).
fn filler(text: &str) -> bool {
    /// The longer titles and legal forms with their skeletons, computed once.
    static LONG: std::sync::LazyLock<Vec<(&str, String)>> = std::sync::LazyLock::new(|| {
        FILLERS
            .iter()
            .chain(TITLES)
            .filter(|f| f.len() >= 5)
            .map(|f| (*f, skeleton(f)))
            .collect()
    });
    if TITLES.contains(&text) || FILLERS.contains(&text) {
        return true;
    }
    if text.len() < 5 {
        return false;
    }
    let folded = skeleton(text);
    LONG.iter().any(|(f, f_folded)| {
        *f_folded == folded
            || (f.len().abs_diff(text.len()) <= 1 && strsim::osa_distance(f, text) <= 1)
    })
}

/// `name` as classed tokens, in their order. Initials that spell a legal form together
/// (`S.A.`, `B.V.`, `L.L.C.`) are one.
pub fn normalize(name: &str) -> Vec<Token> {
    let mut tokens = classify(name);
    let mut at = 0;
    while at < tokens.len() {
        let run = tokens[at..]
            .iter()
            .take_while(|t| t.class == TokenClass::Initial)
            .count();
        if run >= 2 {
            let spelled: String = tokens[at..at + run]
                .iter()
                .map(|t| t.text.as_str())
                .collect();
            if FILLERS.contains(&spelled.as_str()) {
                tokens.splice(
                    at..at + run,
                    [Token {
                        text: spelled,
                        class: TokenClass::Filler,
                    }],
                );
            }
        }
        at += run.max(1);
    }
    tokens
}

fn classify(name: &str) -> Vec<Token> {
    fold(name)
        .split_whitespace()
        .map(|text| {
            let class = if text.len() == 1 && text.as_bytes()[0].is_ascii_alphabetic() {
                TokenClass::Initial
            } else if PARTICLES.contains(&text) {
                TokenClass::Particle
            } else if filler(text) {
                TokenClass::Filler
            } else {
                TokenClass::Name
            };
            Token {
                text: text.to_string(),
                class,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(name: &str) -> Vec<String> {
        normalize(name).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn scripts_diacritics_and_case_fold_to_ascii() {
        assert_eq!(texts("Владимир Путин"), ["vladimir", "putin"]);
        assert_eq!(
            texts("José MÜLLER-Lüdenscheidt"),
            ["jose", "muller", "ludenscheidt"]
        );
        assert_eq!(texts("Ｂａｓｈａｒ"), ["bashar"], "full-width letters");
        assert_eq!(texts("Αλέξης Τσίπρας"), ["alexis", "tsipras"]);
    }

    #[test]
    fn invisible_characters_and_homoglyphs_disappear() {
        assert_eq!(
            texts("Bash\u{200B}ar al\u{00AD}-Ass\u{200D}ad"),
            ["bashar", "al", "assad"]
        );
        // A Cyrillic а and о inside a Latin name.
        assert_eq!(texts("Bаshаr Аssоd"), ["bashar", "assod"]);
    }

    #[test]
    fn apostrophes_join_and_punctuation_separates() {
        assert_eq!(texts("O'Brien, Seán"), ["obrien", "sean"]);
        assert_eq!(texts("AL-ASSAD, Bashar"), ["al", "assad", "bashar"]);
    }

    #[test]
    fn spoofed_latin_reads_as_drawn_and_cyrillic_as_spoken() {
        assert_eq!(texts("PJSС МОSТОТRЕSТ"), ["pjsc", "mostotrest"]);
        assert_eq!(texts("Сергей"), ["sergey"]);
    }

    #[test]
    fn skeletons_fold_spelling_variants() {
        for (a, b) in [
            ("dzharamillo", "jaramillo"),
            ("kheungdzhin", "heungjin"),
            ("kekilia", "cecilia"),
            ("stokk", "stock"),
            ("gomez", "gomes"),
        ] {
            assert_eq!(skeleton(a), skeleton(b), "{a} {b}");
        }
        assert_ne!(skeleton("wang"), skeleton("kang"));
    }

    #[test]
    fn tokens_are_classed() {
        assert_eq!(
            normalize("Renova Gmoup")[1].class,
            TokenClass::Filler,
            "a misspelled legal form"
        );
        assert_eq!(normalize("Olga Kompany")[1].class, TokenClass::Filler);
        let kave: Vec<TokenClass> = normalize("KAVE, S.A.")
            .into_iter()
            .map(|t| t.class)
            .collect();
        assert_eq!(
            kave,
            [TokenClass::Name, TokenClass::Filler],
            "S.A. is a legal form"
        );
        let classes: Vec<TokenClass> = normalize("Sheikh Abu J. al-Baghdadi Ltd")
            .into_iter()
            .map(|t| t.class)
            .collect();
        use TokenClass::*;
        assert_eq!(classes, [Filler, Name, Initial, Particle, Name, Filler]);
    }
}
