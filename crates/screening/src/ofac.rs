//! OFAC's legacy CSV set: `sdn.csv` (12 columns: ent_num, SDN_Name, SDN_Type, Program,
//! Title, Call_Sign, Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks), `alt.csv` (5:
//! ent_num, alt_num, alt_type, alt_name, alt_remarks) and `add.csv` (6: ent_num, add_num,
//! address, city/state/postal, country, add_remarks). No header; `-0-` (often `-0- `) is
//! null; the files end with a lone 0x1A. Aliases and addresses join on `ent_num`; an alias
//! or address of an entity the SDN file does not have (a later publication) is skipped.
//! Years of birth come from `DOB …` in the remarks, digital-currency addresses from
//! `Digital Currency Address - XBT <address>` there.

use std::collections::HashMap;

use crate::{Entry, EntryKind, ListError, ListName};

/// The three files' bytes.
pub struct OfacFiles<'a> {
    pub sdn: &'a [u8],
    pub alt: Option<&'a [u8]>,
    pub add: Option<&'a [u8]>,
}

/// Line numbers from byte offsets, counted forward once. (The csv crate's own line count
/// is one short after records that end in `\r\n`, as OFAC's do.)
pub(crate) struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            line: 1,
        }
    }

    /// The 1-based line of `offset`; offsets must not go backwards.
    pub(crate) fn line_at(&mut self, offset: u64) -> u64 {
        let mut offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        // After `\r\n` the csv crate places the next record at the `\n`.
        if self.bytes.get(offset) == Some(&b'\n') {
            offset += 1;
        }
        if offset > self.at {
            self.line += self.bytes[self.at..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.at = offset;
        }
        self.line
    }
}

/// A row's fields, null as `None`, with its line number.
struct Row {
    line: u64,
    fields: Vec<Option<String>>,
}

fn rows(file: &'static str, bytes: &[u8], columns: usize) -> Result<Vec<Row>, ListError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut out = Vec::new();
    let mut lines = LineCounter::new(bytes);
    for record in reader.records() {
        let record = record.map_err(|e| ListError::Malformed {
            file,
            line: e.position().map_or(0, |p| lines.line_at(p.byte())),
            reason: match e.kind() {
                csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_string(),
                _ => "not a CSV line".to_string(),
            },
        })?;
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        // The end-of-file marker OFAC appends.
        if record.len() == 1
            && record[0]
                .trim_matches(|c: char| c == '\u{1a}' || c.is_whitespace())
                .is_empty()
        {
            continue;
        }
        if record.len() != columns {
            return Err(ListError::Columns {
                file,
                line,
                found: record.len(),
                expected: columns,
            });
        }
        let fields = record
            .iter()
            .map(|f| {
                let f = f.trim();
                (f != "-0-" && !f.is_empty()).then(|| f.to_string())
            })
            .collect();
        out.push(Row { line, fields });
    }
    Ok(out)
}

fn ent_num(file: &'static str, row: &Row) -> Result<u64, ListError> {
    let raw = row.fields[0].as_deref().unwrap_or_default();
    raw.parse().map_err(|_| ListError::Field {
        file,
        line: row.line,
        field: "ent_num",
        reason: format!("{raw:?}, not a number"),
    })
}

/// Years of birth in remarks: every 4-digit year after `DOB` up to the next `;`.
fn birth_years(remarks: &str) -> Vec<u16> {
    let mut years = Vec::new();
    for part in remarks.split(';') {
        let Some(dob) = part.trim().strip_prefix("DOB") else {
            continue;
        };
        for word in dob.split(|c: char| !c.is_ascii_digit()) {
            if let (4, Ok(year)) = (word.len(), word.parse::<u16>()) {
                if (1800..=2100).contains(&year) && !years.contains(&year) {
                    years.push(year);
                }
            }
        }
    }
    years
}

/// `(ticker, address)` for every `Digital Currency Address - <TICKER> <address>`.
fn currency_addresses(remarks: &str) -> Vec<(String, String)> {
    const MARK: &str = "Digital Currency Address - ";
    remarks
        .match_indices(MARK)
        .filter_map(|(at, _)| {
            let mut words = remarks[at + MARK.len()..].split_whitespace();
            let ticker = words.next()?;
            let address = words.next()?.trim_end_matches([';', '.', ',']);
            Some((ticker.to_string(), address.to_string()))
        })
        .collect()
}

/// Nationality and citizenship countries from the remarks.
fn remark_countries(remarks: &str) -> Vec<String> {
    remarks
        .split(';')
        .filter_map(|part| {
            let part = part.trim();
            part.strip_prefix("nationality ")
                .or_else(|| part.strip_prefix("citizen "))
                .map(|c| c.trim_end_matches('.').trim().to_string())
        })
        .filter(|c| !c.is_empty())
        .collect()
}

/// Every entry of the SDN file with its aliases, countries, years of birth and
/// digital-currency addresses. Refused whole on the first bad line.
pub fn parse_ofac(files: &OfacFiles<'_>) -> Result<Vec<Entry>, ListError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_number: HashMap<u64, usize> = HashMap::new();
    for row in rows("sdn.csv", files.sdn, 12)? {
        let number = ent_num("sdn.csv", &row)?;
        let name = row.fields[1].clone().ok_or(ListError::Field {
            file: "sdn.csv",
            line: row.line,
            field: "SDN_Name",
            reason: "empty".into(),
        })?;
        let kind = match row.fields[2].as_deref() {
            Some("individual") => EntryKind::Person,
            Some("vessel") => EntryKind::Vessel,
            Some("aircraft") => EntryKind::Aircraft,
            _ => EntryKind::Organization,
        };
        let remarks = row.fields[11].clone().unwrap_or_default();
        let mut countries = remark_countries(&remarks);
        countries.extend(row.fields[9].clone()); // a vessel's flag
        let entry = Entry {
            id: number.to_string(),
            kind,
            names: vec![ListName { name, alias: false }],
            programs: row.fields[3]
                .as_deref()
                .map(|p| {
                    p.split(']')
                        .map(|s| s.trim_matches(['[', ' ']).to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            countries,
            birth_years: birth_years(&remarks),
            addresses: currency_addresses(&remarks),
        };
        if by_number.insert(number, entries.len()).is_some() {
            return Err(ListError::Field {
                file: "sdn.csv",
                line: row.line,
                field: "ent_num",
                reason: format!("{number}, listed twice"),
            });
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(ListError::Empty("sdn.csv"));
    }
    if let Some(alt) = files.alt {
        for row in rows("alt.csv", alt, 5)? {
            let number = ent_num("alt.csv", &row)?;
            if let (Some(&at), Some(name)) = (by_number.get(&number), row.fields[3].clone()) {
                entries[at].names.push(ListName { name, alias: true });
            }
        }
    }
    if let Some(add) = files.add {
        for row in rows("add.csv", add, 6)? {
            let number = ent_num("add.csv", &row)?;
            if let (Some(&at), Some(country)) = (by_number.get(&number), row.fields[4].clone()) {
                let countries = &mut entries[at].countries;
                if !countries.contains(&country) {
                    countries.push(country);
                }
            }
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDN: &str = "36,\"AEROCARIBBEAN AIRLINES\",-0- ,\"CUBA\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n\
        2674,\"ABBAS, Abu\",\"individual\",\"SDGT\",\"Director\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"DOB 10 Dec 1948; POB Safed, Syria; nationality Syria.\"\n\
        25308,\"YAN, Xiaobing\",\"individual\",\"SDNTK\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"DOB 25 Mar 1977; Digital Currency Address - XBT 12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h; alt. Digital Currency Address - XBT 1Kuf2Rd8; citizen China.\"\n\
        \u{1a}\n";
    const ALT: &str =
        "36,12,\"aka\",\"AERO-CARIBBEAN\",-0- \n99999,1,\"aka\",\"NOT IN THIS SDN\",-0- \n";
    const ADD: &str = "36,25,-0- ,\"Havana\",\"Cuba\",-0- \n";

    #[test]
    fn entries_join_aliases_addresses_and_remarks() {
        let entries = parse_ofac(&OfacFiles {
            sdn: SDN.as_bytes(),
            alt: Some(ALT.as_bytes()),
            add: Some(ADD.as_bytes()),
        })
        .expect("parses");
        assert_eq!(entries.len(), 3);
        let airline = &entries[0];
        assert_eq!(airline.kind, EntryKind::Organization);
        assert_eq!(airline.names.len(), 2);
        assert_eq!(airline.names[1].name, "AERO-CARIBBEAN");
        assert_eq!(airline.countries, ["Cuba"]);
        let abbas = &entries[1];
        assert_eq!(
            (abbas.kind, abbas.birth_years.as_slice()),
            (EntryKind::Person, &[1948][..])
        );
        assert_eq!(abbas.countries, ["Syria"]);
        let yan = &entries[2];
        assert_eq!(yan.addresses.len(), 2);
        assert_eq!(
            yan.addresses[0],
            ("XBT".into(), "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h".into())
        );
        assert_eq!(yan.countries, ["China"]);
    }

    #[test]
    fn a_bad_line_refuses_the_file_with_its_line() {
        let short = format!("{SDN}40,\"ONLY THREE\",-0- \n");
        let crlf = format!("{}40,\"ONLY THREE\",-0- \r\n", SDN.replace('\n', "\r\n"));
        let refused = parse_ofac(&OfacFiles {
            sdn: crlf.as_bytes(),
            alt: None,
            add: None,
        });
        assert!(
            matches!(refused, Err(ListError::Columns { line: 5, .. })),
            "{refused:?}"
        );
        let refused = parse_ofac(&OfacFiles {
            sdn: short.as_bytes(),
            alt: None,
            add: None,
        });
        assert!(
            matches!(
                refused,
                Err(ListError::Columns {
                    line: 5,
                    found: 3,
                    expected: 12,
                    ..
                })
            ),
            "{refused:?}"
        );
        let latin1 = b"36,\"CAF\xc9\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n";
        let refused = parse_ofac(&OfacFiles {
            sdn: latin1,
            alt: None,
            add: None,
        });
        assert!(
            matches!(refused, Err(ListError::Malformed { line: 1, .. })),
            "{refused:?}"
        );
        let unnumbered = "x,\"A\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n";
        let refused = parse_ofac(&OfacFiles {
            sdn: unnumbered.as_bytes(),
            alt: None,
            add: None,
        });
        assert!(
            matches!(
                refused,
                Err(ListError::Field {
                    field: "ent_num",
                    ..
                })
            ),
            "{refused:?}"
        );
        let refused = parse_ofac(&OfacFiles {
            sdn: b"\x1a\n",
            alt: None,
            add: None,
        });
        assert_eq!(refused, Err(ListError::Empty("sdn.csv")));
    }
}
