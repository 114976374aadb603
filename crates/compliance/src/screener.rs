//! The lists in force, in memory, ready to screen: one [`Index`] per list version and one
//! for the watchlist's names, with the exact identifiers (node keys, addresses) in sets.
//! Built from the store off the request path ([`Screening::refresh`]: at start, then by a
//! periodic job that rebuilds only what changed), swapped in whole, so a query sees one
//! consistent set of lists and a rebuild never blocks one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kernel::{Actor, Clock, IdSource};
use screening::{Entry, EntryKind, Index, ListName, Query};
use serde::Serialize;
use store::{Sql, Store, StoreError};

use crate::lists::{self, Imported, ListVersion, NewList};
use crate::watchlist::{self, WatchItem, WatchKind, INTERNAL_LIST};
use crate::ComplianceError;

/// Screening settings. Defaults: the screening crate's threshold (0.8) and regtest.
#[derive(Debug, Clone)]
pub struct ScreeningConfig {
    /// The score a name must reach to be a hit.
    pub threshold: f64,
    /// The network watch-listed addresses are checked against.
    pub network: bitcoin::Network,
}

impl Default for ScreeningConfig {
    fn default() -> Self {
        Self {
            threshold: screening::DEFAULT_THRESHOLD,
            network: bitcoin::Network::Regtest,
        }
    }
}

/// The lowest threshold a caller may ask for: below it most names hit something.
pub const MIN_THRESHOLD: f64 = 0.5;
/// Hits answered per name, over all lists.
pub const MAX_HITS_PER_NAME: usize = 20;

/// A listed name that matches.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct NameHit {
    /// `ofac-sdn`, `opensanctions`, … or `internal` (the watchlist).
    pub list: String,
    /// The list version matched (none for the watchlist).
    pub list_version: Option<i64>,
    /// Within its list: OFAC's `ent_num`, OpenSanctions' entity id, a watchlist item id.
    pub entry_id: String,
    pub matched_name: String,
    /// In [0, 1], three decimals.
    pub score: f64,
    /// Which tokens matched how, and what the qualifiers did.
    pub explanation: String,
}

/// A listed node key or address that is exactly the one screened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentifierHit {
    pub list: String,
    pub list_version: Option<i64>,
    /// The entry listing it, when the list says (OFAC's address file names none).
    pub entry_id: Option<String>,
    pub value: String,
}

impl std::fmt::Display for IdentifierHit {
    /// `list:entry` (`-` when the list names no entry), as evidence reads it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}",
            self.list,
            self.entry_id.as_deref().unwrap_or("-")
        )
    }
}

struct LoadedList {
    version: ListVersion,
    index: Index,
    /// Sanctioned addresses of the version (entries' and the address file's).
    addresses: HashSet<String>,
}

#[derive(Default)]
struct Watch {
    names: Option<Index>,
    nodes: HashMap<String, String>,
    addresses: HashMap<String, String>,
}

struct Loaded {
    lists: Arc<Vec<Arc<LoadedList>>>,
    watch: Arc<Watch>,
    list_generation: i64,
    watch_generation: (u64, u64),
}

/// What the store holds now: enough to tell whether the memory is stale.
fn generation(sql: &mut dyn Sql) -> Result<(i64, (u64, u64)), StoreError> {
    let lists = sql
        .query_one(
            "SELECT COALESCE(MAX(version), 0) AS generation FROM screening_lists",
            &[],
        )?
        .i64("generation")?;
    let row = sql.query_one(
        "SELECT COUNT(*) AS added, COUNT(removed_at_ms) AS removed FROM watchlist_items",
        &[],
    )?;
    Ok((lists, (row.u64("added")?, row.u64("removed")?)))
}

fn build_list(
    version: ListVersion,
    files: &[lists::ListFile],
) -> Result<LoadedList, ComplianceError> {
    let format = version.format.parse().map_err(|_| {
        ComplianceError::ListIncomplete(format!("unknown format {}", version.format))
    })?;
    let parsed = lists::parse(format, files)?;
    Ok(LoadedList {
        version,
        index: Index::new(parsed.entries),
        addresses: parsed.addresses.into_iter().collect(),
    })
}

/// A watched name as a list entry.
pub(crate) fn watch_entry(item: &WatchItem) -> Entry {
    Entry {
        id: item.id.clone(),
        // The watchlist does not say; a person and an organisation both match.
        kind: EntryKind::Organization,
        names: vec![ListName {
            name: item.value.clone(),
            alias: false,
        }],
        programs: Vec::new(),
        countries: Vec::new(),
        birth_years: Vec::new(),
        addresses: Vec::new(),
    }
}

fn build_watch(items: Vec<WatchItem>) -> Watch {
    let mut watch = Watch::default();
    let mut names = Vec::new();
    for item in items {
        match item.kind {
            WatchKind::Name => names.push(watch_entry(&item)),
            WatchKind::NodePubkey => {
                watch.nodes.insert(item.value, item.id);
            }
            WatchKind::Address => {
                watch.addresses.insert(item.value, item.id);
            }
        }
    }
    if !names.is_empty() {
        watch.names = Some(Index::new(names));
    }
    watch
}

impl NameHit {
    /// A hit of list `list` (version `list_version`), its score to three decimals.
    pub(crate) fn new(list: &str, list_version: Option<i64>, hit: screening::Hit) -> Self {
        Self {
            list: list.to_string(),
            list_version,
            entry_id: hit.entry_id,
            matched_name: hit.matched_name,
            score: (hit.score * 1000.0).round() / 1000.0,
            explanation: hit.explanation.to_string(),
        }
    }
}

/// Sanctions screening over the lists in force and the watchlist; cheap to clone.
#[derive(Clone)]
pub struct Screening {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    config: ScreeningConfig,
    loaded: RwLock<Option<Arc<Loaded>>>,
    /// One rebuild at a time (the periodic job and an import on this replica).
    refreshing: tokio::sync::Mutex<()>,
}

impl Screening {
    /// Nothing loaded until the first [`Screening::refresh`].
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        config: ScreeningConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                ids,
                config,
                loaded: RwLock::new(None),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn config(&self) -> &ScreeningConfig {
        &self.inner.config
    }

    fn current(&self) -> Option<Arc<Loaded>> {
        self.inner
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Brings the memory up to the store: rebuilds the lists whose version in force
    /// changed and the watchlist if it changed. Answers whether anything was rebuilt. A
    /// list that no longer parses (a foreign write) keeps its previous index and fails
    /// the refresh.
    pub async fn refresh(&self) -> Result<bool, ComplianceError> {
        let _one = self.inner.refreshing.lock().await;
        let current = self.current();
        let known = current
            .as_ref()
            .map(|c| (c.list_generation, c.watch_generation));
        let loaded_versions: HashSet<i64> = current
            .iter()
            .flat_map(|c| c.lists.iter().map(|l| l.version.version))
            .collect();
        // Two small counts when nothing changed; the lists and the watchlist only when
        // theirs did (this runs every 2 s on every replica).
        let read = self
            .inner
            .store
            .read(move |sql| {
                let (lists_now, watch_now) = generation(sql)?;
                let lists_stale = known.is_none_or(|(lists, _)| lists != lists_now);
                let watch_stale = known.is_none_or(|(_, watch)| watch != watch_now);
                let mut lists_read = None;
                if lists_stale {
                    let versions = lists::in_force(sql)?;
                    let mut new_files = HashMap::new();
                    for v in &versions {
                        if !loaded_versions.contains(&v.version) {
                            new_files.insert(v.version, lists::files(sql, v.version)?);
                        }
                    }
                    lists_read = Some((versions, new_files));
                }
                let items = if watch_stale {
                    Some(watchlist::active(sql)?)
                } else {
                    None
                };
                Ok::<_, StoreError>((lists_now, watch_now, lists_read, items))
            })
            .await?;
        let (list_generation, watch_generation, lists_read, items) = read;
        if lists_read.is_none() && items.is_none() {
            return Ok(false);
        }
        let previous = current.clone();
        let built = tokio::task::spawn_blocking(move || {
            let lists = match (&previous, lists_read) {
                (Some(p), None) => Arc::clone(&p.lists),
                (_, Some((versions, new_files))) => {
                    let kept: HashMap<i64, Arc<LoadedList>> = previous
                        .iter()
                        .flat_map(|p| p.lists.iter())
                        .map(|l| (l.version.version, Arc::clone(l)))
                        .collect();
                    let mut out = Vec::with_capacity(versions.len());
                    for version in versions {
                        let number = version.version;
                        out.push(match (kept.get(&number), new_files.get(&number)) {
                            (Some(same), _) => Arc::clone(same),
                            (None, Some(files)) => Arc::new(build_list(version, files)?),
                            (None, None) => {
                                return Err(ComplianceError::ListIncomplete(format!(
                                    "the files of version {number} were not read"
                                )))
                            }
                        });
                    }
                    Arc::new(out)
                }
                (None, None) => Arc::new(Vec::new()),
            };
            let watch = match (&previous, items) {
                (_, Some(items)) => Arc::new(build_watch(items)),
                (Some(p), None) => Arc::clone(&p.watch),
                (None, None) => Arc::new(Watch::default()),
            };
            Ok::<_, ComplianceError>((lists, watch))
        })
        .await
        .map_err(|_| ComplianceError::ListIncomplete("the index builder stopped".into()))?;
        let (lists, watch) = built?;
        let summary: Vec<String> = lists
            .iter()
            .map(|l| {
                format!(
                    "{} v{} ({} entries)",
                    l.version.list, l.version.version, l.version.entries
                )
            })
            .collect();
        *self
            .inner
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(Loaded {
            lists,
            watch,
            list_generation,
            watch_generation,
        }));
        tracing::info!(lists = %summary.join(", "), "screening lists loaded");
        Ok(true)
    }

    /// Whether the lists have been loaded once (readiness).
    pub fn is_loaded(&self) -> bool {
        self.current().is_some()
    }

    /// The hits of each query, best first, at `threshold` (the configured one when
    /// `None`; never below [`MIN_THRESHOLD`]). CPU-bound: about 0.1 ms per name.
    pub fn screen_names(
        &self,
        queries: &[Query],
        threshold: Option<f64>,
    ) -> Result<Vec<Vec<NameHit>>, ComplianceError> {
        let loaded = self.current().ok_or(ComplianceError::Loading)?;
        let threshold = threshold
            .unwrap_or(self.inner.config.threshold)
            .clamp(MIN_THRESHOLD, 1.0);
        Ok(queries
            .iter()
            .map(|query| {
                let mut hits = Vec::new();
                for list in loaded.lists.iter() {
                    let (name, version) = (&list.version.list, Some(list.version.version));
                    let found = list.index.screen(query, threshold).into_iter();
                    hits.extend(found.map(|h| NameHit::new(name, version, h)));
                }
                if let Some(names) = &loaded.watch.names {
                    let found = names.screen(query, threshold).into_iter();
                    hits.extend(found.map(|h| NameHit::new(INTERNAL_LIST, None, h)));
                }
                hits.sort_by(|a, b| b.score.total_cmp(&a.score));
                hits.truncate(MAX_HITS_PER_NAME);
                hits
            })
            .collect())
    }

    /// Lists and watchlist items naming this node public key (lowercase hex).
    pub fn screen_node(&self, pubkey: &str) -> Result<Vec<IdentifierHit>, ComplianceError> {
        let loaded = self.current().ok_or(ComplianceError::Loading)?;
        let key = pubkey.to_ascii_lowercase();
        Ok(loaded
            .watch
            .nodes
            .get(&key)
            .map(|id| IdentifierHit {
                list: INTERNAL_LIST.to_string(),
                list_version: None,
                entry_id: Some(id.clone()),
                value: key.clone(),
            })
            .into_iter()
            .collect())
    }

    /// Lists and watchlist items naming this on-chain address (any network's form).
    pub fn screen_address(&self, address: &str) -> Result<Vec<IdentifierHit>, ComplianceError> {
        let loaded = self.current().ok_or(ComplianceError::Loading)?;
        let canonical = screening::bitcoin_address(address, bitcoin::Network::Bitcoin)
            .or_else(|_| screening::bitcoin_address(address, self.inner.config.network))
            .unwrap_or_else(|_| address.trim().to_string());
        let mut hits = Vec::new();
        for list in loaded.lists.iter() {
            let entries = list.index.entries_with_address(&canonical);
            if entries.is_empty() && list.addresses.contains(&canonical) {
                hits.push(IdentifierHit {
                    list: list.version.list.clone(),
                    list_version: Some(list.version.version),
                    entry_id: None,
                    value: canonical.clone(),
                });
            }
            hits.extend(entries.into_iter().map(|at| IdentifierHit {
                list: list.version.list.clone(),
                list_version: Some(list.version.version),
                entry_id: Some(list.index.entries()[at].id.clone()),
                value: canonical.clone(),
            }));
        }
        if let Some(id) = loaded.watch.addresses.get(&canonical) {
            hits.push(IdentifierHit {
                list: INTERNAL_LIST.to_string(),
                list_version: None,
                entry_id: Some(id.clone()),
                value: canonical,
            });
        }
        Ok(hits)
    }

    /// The fingerprint of entry `entry_id` of `list` as in force here (a watchlist item's
    /// own), for a clearance; none if the list in force has no such entry.
    pub fn fingerprint(
        &self,
        list: &str,
        entry_id: &str,
    ) -> Result<Option<String>, ComplianceError> {
        let loaded = self.current().ok_or(ComplianceError::Loading)?;
        if crate::rescreen::is_watchlist(list) {
            let listed = loaded
                .watch
                .names
                .as_ref()
                .is_some_and(|names| names.entries().iter().any(|e| e.id == entry_id));
            return Ok(listed.then(|| crate::rescreen::watch_fingerprint(entry_id)));
        }
        Ok(loaded
            .lists
            .iter()
            .find(|l| l.version.list == list)
            .and_then(|l| l.index.entries().iter().find(|e| e.id == entry_id))
            .map(crate::rescreen::fingerprint))
    }

    /// The fingerprints of `hits` (from [`Screening::screen_names`]) as in force now.
    pub fn matches(
        &self,
        hits: &[NameHit],
    ) -> Result<Vec<crate::rescreen::Match>, ComplianceError> {
        let mut out = Vec::with_capacity(hits.len());
        for hit in hits {
            if let Some(fingerprint) = self.fingerprint(&hit.list, &hit.entry_id)? {
                out.push(crate::rescreen::Match {
                    hit: hit.clone(),
                    fingerprint,
                });
            }
        }
        Ok(out)
    }

    /// Every list version, newest first, each marked whether it is in force.
    pub async fn versions(&self, limit: u32) -> Result<Vec<ListVersion>, ComplianceError> {
        Ok(self
            .inner
            .store
            .read(move |sql| lists::versions(sql, limit))
            .await?)
    }

    /// Stores a list load (see [`lists::import`]) and puts it in force on this replica;
    /// the others follow at their next refresh.
    pub async fn import(&self, actor: &Actor, new: NewList) -> Result<Imported, ComplianceError> {
        let imported = lists::import(&self.inner.store, &self.inner.clock, actor, new).await?;
        self.refresh().await?;
        Ok(imported)
    }

    /// Adds a watchlist item, in force on this replica when this returns.
    pub async fn watch(
        &self,
        actor: &Actor,
        kind: WatchKind,
        value: &str,
        reason: &str,
    ) -> Result<WatchItem, ComplianceError> {
        let value = watchlist::canonical(kind, value, self.inner.config.network)?;
        let (actor, reason) = (actor.clone(), reason.to_string());
        let now = self.inner.clock.now_ms();
        let id = self.inner.ids.next_id("watch");
        let item = self
            .inner
            .store
            .write(move |sql| watchlist::add(sql, &actor, now, &id, kind, &value, &reason))
            .await?;
        self.refresh().await?;
        Ok(item)
    }

    /// Takes an item off the watchlist, on this replica when this returns.
    pub async fn unwatch(&self, actor: &Actor, id: &str) -> Result<(), ComplianceError> {
        let (actor, id) = (actor.clone(), id.to_string());
        let now = self.inner.clock.now_ms();
        self.inner
            .store
            .write(move |sql| watchlist::remove(sql, &actor, now, &id))
            .await?;
        self.refresh().await?;
        Ok(())
    }

    /// The active watchlist items.
    pub async fn watchlist(&self) -> Result<Vec<WatchItem>, ComplianceError> {
        Ok(self.inner.store.read(watchlist::active).await?)
    }
}
