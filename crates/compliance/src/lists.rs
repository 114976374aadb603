//! Sanctions list versions: a load is parsed whole (or refused whole, the version in force
//! staying), checksummed, and stored with its files and counts in one audited transaction.
//! Loading the same files again is not a new version. The newest version of each list is
//! in force; replicas build their index from the stored files.

use std::collections::HashSet;
use std::sync::Arc;

use audit::AuditAction;
use kernel::{Actor, Clock};
use screening::{Entry, ListError, OfacFiles};
use serde::Serialize;
use sha2::{Digest, Sha256};
use store::{Row, Sql, Store, Value};

use crate::error::invalid;
use crate::ComplianceError;

/// How a list's files are written.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "kebab-case")]
pub enum ListFormat {
    /// OFAC's `sdn.csv`, `alt.csv`, `add.csv`, with an optional list of Bitcoin addresses.
    OfacCsv,
    /// OpenSanctions' FollowTheMoney entities, one JSON object per line.
    OpensanctionsFtm,
    /// OpenSanctions' `targets.simple.csv`.
    OpensanctionsSimple,
}

/// A file of a load: OFAC's set is `sdn.csv` (required), `alt.csv`, `add.csv` and
/// `xbt.txt` (one Bitcoin address per line); OpenSanctions' is `entities.ftm.json` or
/// `targets.simple.csv`.
const OFAC_FILES: [&str; 4] = ["sdn.csv", "alt.csv", "add.csv", "xbt.txt"];

impl ListFormat {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The list a load of this format updates unless the caller names another.
    pub fn default_list(self) -> &'static str {
        match self {
            ListFormat::OfacCsv => "ofac-sdn",
            ListFormat::OpensanctionsFtm | ListFormat::OpensanctionsSimple => "opensanctions",
        }
    }

    /// The file names a load of this format is made of; the first is required.
    pub fn file_names(self) -> &'static [&'static str] {
        match self {
            ListFormat::OfacCsv => &OFAC_FILES,
            ListFormat::OpensanctionsFtm => &["entities.ftm.json"],
            ListFormat::OpensanctionsSimple => &["targets.simple.csv"],
        }
    }
}

/// Largest load, all files together: OFAC's set is under 10 MiB and OpenSanctions'
/// sanctions-only entities about 300 MiB; the database keeps each file in one value.
pub const MAX_LIST_BYTES: usize = 512 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A load to store.
#[derive(Debug, Clone)]
pub struct NewList {
    pub format: ListFormat,
    /// Which list this is a version of (`ofac-sdn`, `opensanctions`, `eu-fsf`).
    pub list: String,
    /// Where the files came from, for the record (a path, a URL, `bundled snapshot`).
    pub source: String,
    /// The publication date (`YYYY-MM-DD`), when known.
    pub list_date: Option<String>,
    pub files: Vec<ListFile>,
}

/// A line of the address file that is not a Bitcoin address, refused with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RefusedLine {
    pub file: String,
    pub line: u64,
    pub value: String,
    pub reason: String,
}

/// A list version as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListVersion {
    pub version: i64,
    pub list: String,
    pub format: String,
    pub source: String,
    pub list_date: Option<String>,
    /// SHA-256 over the files (each: name, length, bytes, in the format's order), hex.
    pub sha256: String,
    pub entries: u64,
    pub names: u64,
    pub addresses: u64,
    pub refused: Vec<RefusedLine>,
    pub imported_at_ms: i64,
    pub imported_by: String,
    /// The newest version of its list.
    pub in_force: bool,
}

/// A list's entries and sanctioned addresses, parsed.
pub struct ParsedList {
    pub entries: Vec<Entry>,
    /// Canonical mainnet addresses, from the entries and the address file.
    pub addresses: Vec<String>,
    pub refused: Vec<RefusedLine>,
}

fn file<'a>(files: &'a [ListFile], name: &str) -> Option<&'a [u8]> {
    files
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.bytes.as_slice())
}

/// Parses a load's files; refused whole on the first bad line.
pub fn parse(format: ListFormat, files: &[ListFile]) -> Result<ParsedList, ComplianceError> {
    let names = format.file_names();
    if let Some(stray) = files.iter().find(|f| !names.contains(&f.name.as_str())) {
        return Err(ComplianceError::ListIncomplete(format!(
            "{} is not a file of the {} format ({})",
            stray.name,
            format.as_str(),
            names.join(", ")
        )));
    }
    let required = file(files, names[0])
        .ok_or_else(|| ComplianceError::ListIncomplete(format!("{} is missing", names[0])))?;
    let entries = match format {
        ListFormat::OfacCsv => screening::parse_ofac(&OfacFiles {
            sdn: required,
            alt: file(files, "alt.csv"),
            add: file(files, "add.csv"),
        })?,
        ListFormat::OpensanctionsFtm => screening::parse_ftm(required)?,
        ListFormat::OpensanctionsSimple => screening::parse_simple(required)?,
    };
    let mut seen = HashSet::new();
    let mut addresses = Vec::new();
    let mut refused = Vec::new();
    for entry in &entries {
        for (ticker, address) in &entry.addresses {
            if ticker != "XBT" {
                continue;
            }
            match screening::bitcoin_address(address, bitcoin::Network::Bitcoin) {
                Ok(canonical) if seen.insert(canonical.clone()) => addresses.push(canonical),
                Ok(_) => {}
                Err(reason) => refused.push(RefusedLine {
                    file: names[0].to_string(),
                    line: 0,
                    value: address.clone(),
                    reason: format!("{} of entry {}", reason, entry.id),
                }),
            }
        }
    }
    if let Some(xbt) = file(files, "xbt.txt") {
        let list = screening::parse_bitcoin_addresses(xbt, bitcoin::Network::Bitcoin).map_err(
            |e| match e {
                ListError::Empty(_) => ListError::Empty("xbt.txt"),
                other => other,
            },
        )?;
        for address in list.addresses {
            if seen.insert(address.clone()) {
                addresses.push(address);
            }
        }
        refused.extend(list.refused.into_iter().map(|r| RefusedLine {
            file: "xbt.txt".to_string(),
            line: r.line,
            value: r.address,
            reason: r.reason,
        }));
    }
    Ok(ParsedList {
        entries,
        addresses,
        refused,
    })
}

/// The checksum a version records: each file's name, length and bytes in the format's
/// order, so that the same bytes under another name are another list.
fn checksum(format: ListFormat, files: &[ListFile]) -> String {
    let mut hash = Sha256::new();
    for name in format.file_names() {
        if let Some(bytes) = file(files, name) {
            hash.update(name.as_bytes());
            hash.update([0]);
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn check_new(new: &NewList) -> Result<(), ComplianceError> {
    let list = &new.list;
    if list.is_empty()
        || list.len() > 40
        || !list
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            "list",
            "1 to 40 lowercase letters, digits and hyphens",
        ));
    }
    if list == crate::watchlist::INTERNAL_LIST {
        return Err(invalid("list", "`internal` is the watchlist's name"));
    }
    if let Some(date) = &new.list_date {
        if chrono_date(date).is_none() {
            return Err(invalid("list_date", "a date as YYYY-MM-DD"));
        }
    }
    if new.source.is_empty() || new.source.chars().count() > 200 {
        return Err(invalid("source", "1 to 200 characters"));
    }
    let total: usize = new.files.iter().map(|f| f.bytes.len()).sum();
    if total > MAX_LIST_BYTES {
        return Err(invalid(
            "files",
            format!("{total} bytes, more than {MAX_LIST_BYTES}"),
        ));
    }
    let mut names = HashSet::new();
    if let Some(twice) = new.files.iter().find(|f| !names.insert(&f.name)) {
        return Err(invalid("files", format!("{} given twice", twice.name)));
    }
    Ok(())
}

/// `YYYY-MM-DD`, a real date of a plausible year.
fn chrono_date(date: &str) -> Option<()> {
    use chrono::Datelike;
    // Exactly ten characters: chrono would also take `2024-5-3`.
    if date.len() != 10 {
        return None;
    }
    let parsed = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    (1900..=2200).contains(&parsed.year()).then_some(())
}

/// The outcome of a load: the version in force for these files, and whether this load
/// made it (a load of files already stored returns their version).
#[derive(Debug, Clone)]
pub struct Imported {
    pub version: ListVersion,
    pub created: bool,
}

/// Parses, checks and stores a load (audited as `screening_list.import`).
pub async fn import(
    store: &Store,
    clock: &Arc<dyn Clock>,
    actor: &Actor,
    new: NewList,
) -> Result<Imported, ComplianceError> {
    check_new(&new)?;
    let new = Arc::new(new);
    let parsing = Arc::clone(&new);
    let parsed = tokio::task::spawn_blocking(move || parse(parsing.format, &parsing.files))
        .await
        .map_err(|_| ComplianceError::ListIncomplete("the parser stopped".into()))??;
    let sha256 = checksum(new.format, &new.files);
    let counts = (
        parsed.entries.len() as u64,
        parsed
            .entries
            .iter()
            .map(|e| e.names.len() as u64)
            .sum::<u64>(),
        parsed.addresses.len() as u64,
    );
    let refused = serde_json::to_string(&parsed.refused).unwrap_or_else(|_| "[]".into());
    let now = clock.now_ms();
    let actor = actor.clone();
    store
        .write(move |sql| {
            let existing = sql.query_opt(
                "SELECT version FROM screening_lists WHERE list = $1 AND sha256 = $2",
                &[new.list.as_str().into(), sha256.as_str().into()],
            )?;
            if let Some(row) = existing {
                let version = row.i64("version")?;
                return Ok(Imported {
                    version: get(sql, version)?,
                    created: false,
                });
            }
            let version = sql
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) + 1 AS next FROM screening_lists",
                    &[],
                )?
                .i64("next")?;
            sql.execute(
                "INSERT INTO screening_lists (version, list, format, source, list_date, sha256, \
                 entries, names, addresses, refused, imported_at_ms, imported_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    version.into(),
                    new.list.as_str().into(),
                    new.format.as_str().into(),
                    new.source.as_str().into(),
                    new.list_date.as_deref().map_or(Value::Null, Value::from),
                    sha256.as_str().into(),
                    counts.0.into(),
                    counts.1.into(),
                    counts.2.into(),
                    refused.as_str().into(),
                    now.into(),
                    actor.origin.actor_id.as_str().into(),
                ],
            )?;
            for f in &new.files {
                sql.execute(
                    "INSERT INTO screening_list_files (version, name, bytes) VALUES ($1, $2, $3)",
                    &[
                        version.into(),
                        f.name.as_str().into(),
                        Value::Blob(f.bytes.clone()),
                    ],
                )?;
            }
            actor.audit(
                sql,
                now,
                None,
                "screening_list.import",
                &format!("screening_list:{version}"),
                Some(format!("{} {} entries sha256 {sha256}", new.list, counts.0)),
            )?;
            Ok(Imported {
                version: get(sql, version)?,
                created: true,
            })
        })
        .await
}

const COLUMNS: &str = "l.version, l.list, l.format, l.source, l.list_date, l.sha256, l.entries, \
     l.names, l.addresses, l.refused, l.imported_at_ms, l.imported_by, \
     CASE WHEN l.version = (SELECT MAX(n.version) FROM screening_lists n WHERE n.list = l.list) \
     THEN 1 ELSE 0 END \
     AS in_force";

fn decode(row: &Row) -> Result<ListVersion, store::StoreError> {
    Ok(ListVersion {
        version: row.i64("version")?,
        list: row.text("list")?.to_string(),
        format: row.text("format")?.to_string(),
        source: row.text("source")?.to_string(),
        list_date: row.opt_text("list_date")?.map(str::to_string),
        sha256: row.text("sha256")?.to_string(),
        entries: row.u64("entries")?,
        names: row.u64("names")?,
        addresses: row.u64("addresses")?,
        refused: serde_json::from_str(row.text("refused")?).unwrap_or_default(),
        imported_at_ms: row.i64("imported_at_ms")?,
        imported_by: row.text("imported_by")?.to_string(),
        in_force: row.bool("in_force")?,
    })
}

fn get(sql: &mut dyn Sql, version: i64) -> Result<ListVersion, store::StoreError> {
    let row = sql.query_one(
        &format!("SELECT {COLUMNS} FROM screening_lists l WHERE l.version = $1"),
        &[version.into()],
    )?;
    decode(&row)
}

/// Every version, newest first (bounded: one row per load, a handful per month).
pub fn versions(sql: &mut dyn Sql, limit: u32) -> Result<Vec<ListVersion>, store::StoreError> {
    sql.query(
        &format!("SELECT {COLUMNS} FROM screening_lists l ORDER BY l.version DESC LIMIT $1"),
        &[kernel::page_limit(limit).into()],
    )?
    .iter()
    .map(decode)
    .collect()
}

/// The versions in force, oldest first.
pub fn in_force(sql: &mut dyn Sql) -> Result<Vec<ListVersion>, store::StoreError> {
    sql.query(
        &format!(
            "SELECT {COLUMNS} FROM screening_lists l WHERE l.version = \
             (SELECT MAX(n.version) FROM screening_lists n WHERE n.list = l.list) \
             ORDER BY l.version"
        ),
        &[],
    )?
    .iter()
    .map(decode)
    .collect()
}

/// A version's files.
pub fn files(sql: &mut dyn Sql, version: i64) -> Result<Vec<ListFile>, store::StoreError> {
    sql.query(
        "SELECT name, bytes FROM screening_list_files WHERE version = $1 ORDER BY name",
        &[version.into()],
    )?
    .iter()
    .map(|row| {
        Ok(ListFile {
            name: row.text("name")?.to_string(),
            bytes: row.blob("bytes")?.to_vec(),
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_formats() {
        assert!(chrono_date("2024-05-03").is_some());
        for bad in [
            "2024-5-3",
            "2024-13-01",
            "24-05-03x",
            "2024-05-32",
            "２０２４-05-03",
        ] {
            assert!(chrono_date(bad).is_none(), "{bad}");
        }
        for format in <ListFormat as strum::VariantArray>::VARIANTS {
            assert_eq!(format.as_str().parse::<ListFormat>().ok(), Some(*format));
        }
        assert_eq!(ListFormat::OfacCsv.as_str(), "ofac-csv");
    }

    #[test]
    fn a_stray_or_missing_file_refuses_the_load() {
        let sdn = ListFile {
            name: "sdn.csv".into(),
            bytes: b"1,\"X\",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-\n".to_vec(),
        };
        let stray = ListFile {
            name: "notes.txt".into(),
            bytes: vec![],
        };
        assert!(matches!(
            parse(ListFormat::OfacCsv, &[sdn.clone(), stray]),
            Err(ComplianceError::ListIncomplete(_))
        ));
        assert!(matches!(
            parse(ListFormat::OfacCsv, &[]),
            Err(ComplianceError::ListIncomplete(_))
        ));
        assert_eq!(
            parse(ListFormat::OfacCsv, &[sdn])
                .map(|p| p.entries.len())
                .ok(),
            Some(1)
        );
    }
}
