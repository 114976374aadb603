//! Countries as comparable keys: lists and callers name them differently (OFAC writes
//! `Syria`, `Korea, North`; OpenSanctions `sy`, `kp`; a caller may send `SY`, `SYR` or
//! `Syrian Arab Republic`). `celes` knows the ISO 3166 codes, names and common aliases.

use std::str::FromStr;

/// The ISO 3166 alpha-2 code of `country` when it is a code, name or alias `celes` knows;
/// otherwise its letters, lowercased (so two spellings of an unknown place still compare).
pub fn country_key(country: &str) -> String {
    // OFAC's inverted names: `Korea, North` is `North Korea`.
    let ordered = match country.split_once(',') {
        Some((last, first)) => format!("{first} {last}"),
        None => country.to_string(),
    };
    let letters: String = ordered
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match celes::Country::from_str(&letters) {
        Ok(known) => known.alpha2.to_string(),
        Err(_) => letters,
    }
}

#[cfg(test)]
mod tests {
    use super::country_key;

    #[test]
    fn codes_names_and_aliases_meet() {
        for same in ["Syria", "SY", "sy", "SYR", "Syrian Arab Republic"] {
            assert_eq!(country_key(same), "SY", "{same}");
        }
        assert_eq!(country_key("Korea, North"), country_key("KP"));
        assert_eq!(country_key("Russia"), country_key("ru"));
        assert_eq!(country_key("Iran"), "IR");
        assert_ne!(country_key("Iran"), country_key("Iraq"));
        assert_eq!(country_key("Atlantis"), country_key("ATLANTIS"));
    }
}
