//! OpenSanctions' exports: the FollowTheMoney entity stream (`entities.ftm.json`, one JSON
//! entity per line: `{"id", "schema", "properties": {prop: [values]}, "target", …}`) and
//! `targets.simple.csv` (a header row, then `id,schema,name,aliases,birth_date,countries,…`
//! with `;` between values). Persons, organisations, vessels and aircraft become entries;
//! a `CryptoWallet` lends its `publicKey` to its `holder`; every other schema (addresses,
//! sanctions, relationships) is skipped. Countries are ISO 3166 alpha-2 codes, as listed.

use std::collections::HashMap;

use serde::Deserialize;

use crate::{Entry, EntryKind, ListError, ListName};

/// Longest entity line accepted: the largest real entities (heads of state with hundreds of
/// aliases) are well under this; a longer line is a broken or hostile file.
const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

const FTM: &str = "entities.ftm.json";
const SIMPLE: &str = "targets.simple.csv";

fn kind_of(schema: &str) -> Option<EntryKind> {
    match schema {
        "Person" => Some(EntryKind::Person),
        "Organization" | "Company" | "LegalEntity" | "PublicBody" => Some(EntryKind::Organization),
        "Vessel" => Some(EntryKind::Vessel),
        "Airplane" => Some(EntryKind::Aircraft),
        _ => None,
    }
}

/// `1975-03-02`, `1975-03` or `1975` → 1975.
fn year(date: &str) -> Option<u16> {
    let year: u16 = date.get(..4)?.parse().ok()?;
    (1800..=2100).contains(&year).then_some(year)
}

fn push_unique(values: &mut Vec<String>, value: &str) {
    let value = value.trim();
    if !value.is_empty() && !values.iter().any(|v| v == value) {
        values.push(value.to_string());
    }
}

#[derive(Deserialize)]
struct FtmEntity {
    id: String,
    schema: String,
    #[serde(default)]
    properties: HashMap<String, Vec<serde_json::Value>>,
}

impl FtmEntity {
    fn texts<'a>(&'a self, property: &str) -> impl Iterator<Item = &'a str> {
        self.properties
            .get(property)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
    }
}

/// The entities of an FtM stream. Refused whole on a line that is not a JSON entity.
pub fn parse_ftm(bytes: &[u8]) -> Result<Vec<Entry>, ListError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    // (holder, currency, address): wallets may come before their holder.
    let mut wallets: Vec<(String, String, String)> = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = index as u64 + 1;
        let malformed = |reason: &str| ListError::Malformed {
            file: FTM,
            line: line_no,
            reason: reason.to_string(),
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(malformed("longer than 4 MiB"));
        }
        let text = std::str::from_utf8(line).map_err(|_| malformed("not UTF-8"))?;
        let entity: FtmEntity =
            serde_json::from_str(text).map_err(|_| malformed("not a JSON entity"))?;
        if entity.id.is_empty() {
            return Err(ListError::Field {
                file: FTM,
                line: line_no,
                field: "id",
                reason: "empty".into(),
            });
        }
        if entity.schema == "CryptoWallet" {
            let currency = entity.texts("currency").next().unwrap_or("").to_uppercase();
            for holder in entity.texts("holder") {
                for key in entity.texts("publicKey") {
                    wallets.push((holder.to_string(), currency.clone(), key.to_string()));
                }
            }
            continue;
        }
        let Some(kind) = kind_of(&entity.schema) else {
            continue;
        };
        let mut names: Vec<ListName> = Vec::new();
        for (property, alias) in [
            ("name", false),
            ("alias", true),
            ("previousName", true),
            ("weakAlias", true),
        ] {
            for name in entity.texts(property) {
                let name = name.trim();
                if !name.is_empty() && !names.iter().any(|n| n.name == name) {
                    // Only the first `name` is the primary one.
                    let alias = alias || names.iter().any(|n| !n.alias);
                    names.push(ListName {
                        name: name.to_string(),
                        alias,
                    });
                }
            }
        }
        if names.is_empty() {
            continue;
        }
        let mut countries = Vec::new();
        for property in [
            "country",
            "nationality",
            "citizenship",
            "jurisdiction",
            "flag",
        ] {
            for c in entity.texts(property) {
                push_unique(&mut countries, &c.to_uppercase());
            }
        }
        let mut programs = Vec::new();
        for p in entity.texts("programId").chain(entity.texts("topics")) {
            push_unique(&mut programs, p);
        }
        let mut birth_years = Vec::new();
        for y in entity.texts("birthDate").filter_map(year) {
            if !birth_years.contains(&y) {
                birth_years.push(y);
            }
        }
        if by_id.insert(entity.id.clone(), entries.len()).is_some() {
            return Err(ListError::Field {
                file: FTM,
                line: line_no,
                field: "id",
                reason: format!("{:?}, listed twice", entity.id),
            });
        }
        entries.push(Entry {
            id: entity.id,
            kind,
            names,
            programs,
            countries,
            birth_years,
            addresses: Vec::new(),
        });
    }
    for (holder, currency, address) in wallets {
        if let Some(&at) = by_id.get(&holder) {
            entries[at].addresses.push((currency, address));
        }
    }
    if entries.is_empty() {
        return Err(ListError::Empty(FTM));
    }
    Ok(entries)
}

/// The columns `targets.simple.csv` must have (others, such as `program_ids`, which
/// older exports lack, are optional).
const SIMPLE_COLUMNS: [&str; 6] = ["id", "schema", "name", "aliases", "birth_date", "countries"];

/// The entries of a `targets.simple.csv`. Refused whole on a bad line.
pub fn parse_simple(bytes: &[u8]) -> Result<Vec<Entry>, ListError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader.headers().map_err(|_| ListError::Malformed {
        file: SIMPLE,
        line: 1,
        reason: "no CSV header".into(),
    })?;
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let mut at = [0usize; 6];
    for (slot, name) in at.iter_mut().zip(SIMPLE_COLUMNS) {
        *slot = column(name).ok_or_else(|| ListError::Malformed {
            file: SIMPLE,
            line: 1,
            reason: format!("the header has no {name:?} column"),
        })?;
    }
    let sanctions = column("sanctions");
    let width = header.len();
    let [id_at, schema_at, name_at, aliases_at, birth_at, countries_at] = at;
    let mut entries = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut lines = crate::ofac::LineCounter::new(bytes);
    for record in reader.records() {
        let record = record.map_err(|e| ListError::Malformed {
            file: SIMPLE,
            line: e.position().map_or(0, |p| lines.line_at(p.byte())),
            reason: match e.kind() {
                csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_string(),
                _ => "not a CSV line".to_string(),
            },
        })?;
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        if record.len() != width {
            return Err(ListError::Columns {
                file: SIMPLE,
                line,
                found: record.len(),
                expected: width,
            });
        }
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let many = |i: usize| field(i).split(';').map(str::trim).filter(|v| !v.is_empty());
        let Some(kind) = kind_of(field(schema_at)) else {
            continue;
        };
        let id = field(id_at);
        if id.is_empty() {
            return Err(ListError::Field {
                file: SIMPLE,
                line,
                field: "id",
                reason: "empty".into(),
            });
        }
        if seen.insert(id.to_string(), line).is_some() {
            return Err(ListError::Field {
                file: SIMPLE,
                line,
                field: "id",
                reason: format!("{id:?}, listed twice"),
            });
        }
        let mut names = Vec::new();
        if !field(name_at).is_empty() {
            names.push(ListName {
                name: field(name_at).to_string(),
                alias: false,
            });
        }
        for alias in many(aliases_at) {
            if !names.iter().any(|n: &ListName| n.name == alias) {
                names.push(ListName {
                    name: alias.to_string(),
                    alias: true,
                });
            }
        }
        if names.is_empty() {
            return Err(ListError::Field {
                file: SIMPLE,
                line,
                field: "name",
                reason: "empty".into(),
            });
        }
        let mut countries = Vec::new();
        for c in many(countries_at) {
            push_unique(&mut countries, &c.to_uppercase());
        }
        let mut birth_years = Vec::new();
        for y in many(birth_at).filter_map(year) {
            if !birth_years.contains(&y) {
                birth_years.push(y);
            }
        }
        entries.push(Entry {
            id: id.to_string(),
            kind,
            names,
            programs: sanctions
                .map(|s| many(s).map(str::to_string).collect())
                .unwrap_or_default(),
            countries,
            birth_years,
            addresses: Vec::new(),
        });
    }
    if entries.is_empty() {
        return Err(ListError::Empty(SIMPLE));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FTM_LINES: &str = concat!(
        r#"{"id":"Q10279737","caption":"Fahd Hariri","schema":"Person","properties":{"name":["Fahd Hariri"],"country":["lb","sa"],"alias":["Fahed Hariri","Fahad Hariri"],"birthDate":["1982-01-01"],"topics":["role.pep"]},"datasets":["wd_persons"],"target":false}"#,
        "\n",
        r#"{"id":"w1","schema":"CryptoWallet","properties":{"publicKey":["12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h"],"currency":["xbt"],"holder":["ofac-25308"]}}"#,
        "\n\n",
        r#"{"id":"ofac-25308","schema":"Person","properties":{"name":["YAN Xiaobing","Xiaobing Yan"],"nationality":["cn"]},"target":true}"#,
        "\n",
        r#"{"id":"a1","schema":"Address","properties":{"full":["Havana"]}}"#,
        "\n",
    );

    #[test]
    fn ftm_persons_with_aliases_years_countries_and_wallets() {
        let entries = parse_ftm(FTM_LINES.as_bytes()).expect("parses");
        assert_eq!(entries.len(), 2);
        let hariri = &entries[0];
        assert_eq!(hariri.id, "Q10279737");
        assert_eq!(hariri.kind, EntryKind::Person);
        assert_eq!(hariri.names.len(), 3);
        assert!(!hariri.names[0].alias && hariri.names[1].alias);
        assert_eq!(hariri.countries, ["LB", "SA"]);
        assert_eq!(hariri.birth_years, [1982]);
        let yan = &entries[1];
        assert!(
            !yan.names[0].alias && yan.names[1].alias,
            "one primary name"
        );
        assert_eq!(
            yan.addresses,
            [(
                "XBT".to_string(),
                "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h".to_string()
            )]
        );
    }

    #[test]
    fn ftm_refused_whole_with_the_line() {
        let broken = format!("{FTM_LINES}{{\"id\":\"x\",\"schema\":\"Person\"\n");
        assert_eq!(
            parse_ftm(broken.as_bytes()),
            Err(ListError::Malformed {
                file: FTM,
                line: 6,
                reason: "not a JSON entity".into()
            })
        );
        let mut bad_utf8 = FTM_LINES.as_bytes().to_vec();
        bad_utf8.extend_from_slice(b"{\"id\":\"\xff\"}\n");
        assert!(matches!(
            parse_ftm(&bad_utf8),
            Err(ListError::Malformed { line: 6, .. })
        ));
        let twice = format!(
            "{FTM_LINES}{}\n",
            FTM_LINES.lines().next().unwrap_or_default()
        );
        assert!(matches!(
            parse_ftm(twice.as_bytes()),
            Err(ListError::Field {
                line: 6,
                field: "id",
                ..
            })
        ));
        assert_eq!(parse_ftm(b"\n\n"), Err(ListError::Empty(FTM)));
    }

    const SIMPLE_CSV: &str = "id,schema,name,aliases,birth_date,countries,addresses,identifiers,sanctions,phones,emails,dataset,first_seen,last_seen,last_change\n\
        NK-1,Person,Владимир Путин,Vladimir Putin;Путин Владимир Владимирович,1952-10-07,ru,,,EU sanctions;UK sanctions,,,eu_fsf,2022-02-25,2024-05-01,2024-05-01\n\
        NK-2,Company,\"ACME Trading, LLC\",,,ir;ae,,,,,,us_ofac_sdn,2020-01-01,2024-05-01,2024-05-01\n\
        NK-3,Address,Somewhere,,,,,,,,,x,2020-01-01,2024-05-01,2024-05-01\n";

    #[test]
    fn simple_rows_by_header() {
        let entries = parse_simple(SIMPLE_CSV.as_bytes()).expect("parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].names.len(), 3);
        assert_eq!(entries[0].birth_years, [1952]);
        assert_eq!(entries[0].countries, ["RU"]);
        assert_eq!(entries[0].programs, ["EU sanctions", "UK sanctions"]);
        assert_eq!(entries[1].kind, EntryKind::Organization);
        assert_eq!(entries[1].names[0].name, "ACME Trading, LLC");
    }

    #[test]
    fn simple_refused_whole_with_the_line() {
        let short = format!("{SIMPLE_CSV}NK-4,Person,Someone\n");
        assert!(matches!(
            parse_simple(short.as_bytes()),
            Err(ListError::Columns {
                line: 5,
                found: 3,
                expected: 15,
                ..
            })
        ));
        let no_name = "id,schema,aliases,birth_date,countries\nx,Person,,,\n";
        assert!(matches!(
            parse_simple(no_name.as_bytes()),
            Err(ListError::Malformed { line: 1, .. })
        ));
        let twice = format!("{SIMPLE_CSV}NK-1,Person,X,,,,,,,,,x,,,\n");
        assert!(matches!(
            parse_simple(twice.as_bytes()),
            Err(ListError::Field {
                line: 5,
                field: "id",
                ..
            })
        ));
    }
}
