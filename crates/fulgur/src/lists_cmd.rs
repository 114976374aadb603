//! `fulgur lists import|list`: sanctions list versions on the store. An import is parsed
//! whole (or refused whole with its file and line, the version in force staying), stored
//! with its files and audited as the CLI's; running replicas build it at their next refresh
//! (every few seconds). Also the OFAC snapshot bundled in the binary, loaded as the first
//! version of `ofac-sdn` on a store that has none, so a fresh install screens at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use compliance::{ListFile, ListFormat, NewList};
use kernel::{rfc3339, Actor, SystemClock};

use crate::keys_cmd::{cli_origin, ConfigArgs};
use crate::serve::ToolConfig;
use crate::BadInput;

#[derive(clap::Subcommand)]
pub enum Which {
    /// Load a new version of a list.
    Import {
        #[command(flatten)]
        config: ConfigArgs,
        /// ofac-csv (PATH: a folder with sdn.csv, alt.csv, add.csv and optionally a
        /// Bitcoin address list), opensanctions-ftm (PATH: entities.ftm.json) or
        /// opensanctions-simple (PATH: targets.simple.csv).
        #[arg(long)]
        kind: String,
        path: PathBuf,
        /// The list this is a version of (default: ofac-sdn or opensanctions).
        #[arg(long)]
        list: Option<String>,
        /// The list's publication date, YYYY-MM-DD.
        #[arg(long)]
        date: Option<String>,
    },
    /// The versions loaded, newest first.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// The OFAC snapshot in `data/sanctions/` (see its README for provenance).
const BUNDLED: [(&str, &[u8]); 4] = [
    (
        "sdn.csv",
        include_bytes!("../../../data/sanctions/ofac-sdn-2024-05-03.csv"),
    ),
    (
        "alt.csv",
        include_bytes!("../../../data/sanctions/ofac-alt.csv"),
    ),
    (
        "add.csv",
        include_bytes!("../../../data/sanctions/ofac-add.csv"),
    ),
    (
        "xbt.txt",
        include_bytes!("../../../data/sanctions/ofac-xbt-addresses-2024-09-27.txt"),
    ),
];

fn bundled() -> NewList {
    NewList {
        format: ListFormat::OfacCsv,
        list: ListFormat::OfacCsv.default_list().to_string(),
        source: "bundled snapshot (data/sanctions, OFAC SDN 2024-05-03)".to_string(),
        list_date: Some("2024-05-03".to_string()),
        files: BUNDLED
            .iter()
            .map(|(name, bytes)| ListFile {
                name: name.to_string(),
                bytes: bytes.to_vec(),
            })
            .collect(),
    }
}

/// Loads the bundled OFAC snapshot when the store has no `ofac-sdn` version yet.
pub async fn seed_bundled(screening: &compliance::Screening) -> anyhow::Result<()> {
    let versions = screening.versions(kernel::MAX_PAGE).await?;
    if versions.iter().any(|v| v.list == "ofac-sdn") {
        return Ok(());
    }
    let imported = screening.import(&Actor::system("start"), bundled()).await?;
    tracing::info!(
        version = imported.version.version,
        entries = imported.version.entries,
        "bundled OFAC snapshot loaded"
    );
    Ok(())
}

/// Which file of an OFAC folder is which, by name: `xbt` (the address list), `sdn`, `alt`,
/// `add`; other files are ignored.
fn ofac_files(dir: &Path) -> anyhow::Result<Vec<ListFile>> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| BadInput(format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        // `xbt` first: "addresses" contains "add".
        let role = if !name.ends_with(".csv") && !name.ends_with(".txt") {
            None
        } else if name.contains("xbt") {
            Some("xbt.txt")
        } else if name.contains("sdn") {
            Some("sdn.csv")
        } else if name.contains("alt") {
            Some("alt.csv")
        } else if name.contains("add") {
            Some("add.csv")
        } else {
            None
        };
        if let Some(role) = role {
            if files.iter().any(|f: &ListFile| f.name == role) {
                return Err(BadInput(format!(
                    "{} holds two files that look like {role}",
                    dir.display()
                ))
                .into());
            }
            files.push(ListFile {
                name: role.to_string(),
                bytes: read(&path)?,
            });
        }
    }
    Ok(files)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .map_err(|e| BadInput(format!("{}: {e}", path.display())))?
        .len();
    if size > compliance::lists::MAX_LIST_BYTES as u64 {
        return Err(BadInput(format!("{} is larger than a list may be", path.display())).into());
    }
    std::fs::read(path).map_err(|e| BadInput(format!("{}: {e}", path.display())).into())
}

pub async fn run(which: Which) -> anyhow::Result<()> {
    let config = match &which {
        Which::Import { config, .. } | Which::List { config } => config,
    };
    let tool = ToolConfig::load(&config.config)?;
    let store = tool.open_store().await?;
    let clock: Arc<dyn kernel::Clock> = Arc::new(SystemClock);
    match which {
        Which::Import {
            kind,
            path,
            list,
            date,
            ..
        } => {
            let format: ListFormat = kind.parse().map_err(|_| {
                BadInput(format!(
                    "--kind {kind:?} is not ofac-csv, opensanctions-ftm or opensanctions-simple"
                ))
            })?;
            let files = match format {
                ListFormat::OfacCsv => ofac_files(&path)?,
                other => vec![ListFile {
                    name: other.file_names()[0].to_string(),
                    bytes: read(&path)?,
                }],
            };
            let new = NewList {
                format,
                list: list.unwrap_or_else(|| format.default_list().to_string()),
                source: path.display().to_string(),
                list_date: date,
                files,
            };
            let actor = Actor {
                scope: kernel::Scope::All,
                origin: cli_origin(),
                identity: kernel::OUT_OF_BAND.to_string(),
            };
            let imported = compliance::lists::import(&store, &clock, &actor, new)
                .await
                .map_err(|e| match e {
                    compliance::ComplianceError::Store(_) => anyhow::Error::from(e),
                    refused => BadInput(refused.to_string()).into(),
                })?;
            let v = imported.version;
            println!(
                "{} version {}: {} entries, {} names, {} addresses, sha256 {}{}",
                v.list,
                v.version,
                v.entries,
                v.names,
                v.addresses,
                v.sha256,
                if imported.created {
                    ""
                } else {
                    " (already loaded: no new version)"
                }
            );
            for r in &v.refused {
                println!(
                    "refused: {} line {}: {} ({})",
                    r.file, r.line, r.value, r.reason
                );
            }
        }
        Which::List { .. } => {
            let versions = store
                .read(|sql| compliance::lists::versions(sql, kernel::MAX_PAGE))
                .await?;
            for v in versions {
                println!(
                    "{} v{}  {}  date={}  entries={}  addresses={}  imported {} by {}{}",
                    v.list,
                    v.version,
                    v.format,
                    v.list_date.as_deref().unwrap_or("-"),
                    v.entries,
                    v.addresses,
                    rfc3339(v.imported_at_ms),
                    v.imported_by,
                    if v.in_force { "  IN FORCE" } else { "" }
                );
            }
        }
    }
    Ok(())
}
