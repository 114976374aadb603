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

/// The ASCII, lower-case, single-spaced form of `name`.
fn fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().filter(|&c| !invisible(c)).nfkc() {
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

/// `name` as classed tokens, in their order.
pub fn normalize(name: &str) -> Vec<Token> {
    fold(name)
        .split_whitespace()
        .map(|text| {
            let class = if text.len() == 1 && text.as_bytes()[0].is_ascii_alphabetic() {
                TokenClass::Initial
            } else if PARTICLES.contains(&text) {
                TokenClass::Particle
            } else if TITLES.contains(&text) || FILLERS.contains(&text) {
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
    fn tokens_are_classed() {
        let classes: Vec<TokenClass> = normalize("Sheikh Abu J. al-Baghdadi Ltd")
            .into_iter()
            .map(|t| t.class)
            .collect();
        use TokenClass::*;
        assert_eq!(classes, [Filler, Name, Initial, Particle, Name, Filler]);
    }
}
