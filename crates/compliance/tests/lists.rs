//! List versions and the watchlist on both stores: the real OFAC snapshot loads as one
//! audited version that a second replica builds the same index from; the same files again
//! are not a new version; a broken file is refused whole with its line and the version in
//! force stays; watchlist items reach another replica at its refresh.

use std::sync::Arc;

use compliance::{
    ComplianceError, ListFile, ListFormat, NewList, Screening, ScreeningConfig, WatchKind,
};
use kernel::{Actor, ManualClock, SequentialIds};
use screening::{Query, QueryKind};
use store::testing::TestStore;
use store::Store;

store::on_both_stores!(
    the_ofac_snapshot_is_one_version_every_replica_screens_against,
    watchlist_items_reach_every_replica
);

/// 2026-12-05T12:00:00Z.
const NOON_MS: i64 = 1_796_472_000_000;

fn screening(store: Store) -> Screening {
    Screening::new(
        store,
        Arc::new(ManualClock::new(NOON_MS)),
        Arc::new(SequentialIds::default()),
        ScreeningConfig::default(),
    )
}

fn ofac_files() -> Vec<ListFile> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sanctions");
    [
        ("sdn.csv", "ofac-sdn-2024-05-03.csv"),
        ("alt.csv", "ofac-alt.csv"),
        ("add.csv", "ofac-add.csv"),
        ("xbt.txt", "ofac-xbt-addresses-2024-09-27.txt"),
    ]
    .into_iter()
    .map(|(name, file)| ListFile {
        name: name.to_string(),
        bytes: std::fs::read(dir.join(file)).expect("the snapshot is in the repository"),
    })
    .collect()
}

fn ofac(files: Vec<ListFile>) -> NewList {
    NewList {
        format: ListFormat::OfacCsv,
        list: "ofac-sdn".into(),
        source: "data/sanctions".into(),
        list_date: Some("2024-05-03".into()),
        files,
    }
}

fn person(name: &str) -> Query {
    Query {
        name: name.into(),
        kind: QueryKind::Person,
        ..Query::default()
    }
}

async fn the_ofac_snapshot_is_one_version_every_replica_screens_against(t: TestStore) {
    let one = screening(t.store.clone());
    let actor = Actor::system("test");
    assert!(matches!(
        one.screen_names(&[person("anyone")], None),
        Err(ComplianceError::Loading)
    ));
    let imported = one
        .import(&actor, ofac(ofac_files()))
        .await
        .expect("imports");
    assert!(imported.created);
    let v = &imported.version;
    assert_eq!((v.version, v.entries, v.in_force), (1, 14_965, true));
    assert!(v.names > v.entries, "aliases count as names");
    assert!(v.addresses >= 434, "{} addresses", v.addresses);
    // The Tron address labelled XBT, in the address file and in entry 45404's remarks,
    // and the addresses OFAC's 1,000-character remarks cut short: reported, not kept.
    let tron = "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq";
    assert!(v
        .refused
        .iter()
        .any(|r| (r.file.as_str(), r.line, r.value.as_str()) == ("xbt.txt", 355, tron)));
    assert!(v
        .refused
        .iter()
        .any(|r| r.value == tron && r.reason.ends_with("of entry 45404")));
    assert_eq!(v.refused.len(), 8, "{:?}", v.refused);
    assert_eq!(v.sha256.len(), 64);

    // The same files again: the same version, nothing new stored or audited.
    let again = one
        .import(&actor, ofac(ofac_files()))
        .await
        .expect("imports");
    assert!(!again.created);
    assert_eq!(again.version.version, 1);

    // A truncated SDN file is refused whole with its line; version 1 stays in force.
    let mut broken = ofac_files();
    broken[0]
        .bytes
        .extend_from_slice(b"99999999,\"TRUNCATED\",\"individual\"\n");
    match one.import(&actor, ofac(broken)).await {
        Err(ComplianceError::ListRefused(e)) => {
            assert!(e.to_string().contains("sdn.csv line 14966"), "{e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let versions = one.versions(10).await.expect("versions");
    assert_eq!(versions.len(), 1);
    assert!(versions[0].in_force);

    let records = audit::list(
        &t.store,
        audit::AuditFilter {
            tenant_id: None,
            after_seq: 0,
            limit: 100,
        },
    )
    .await
    .expect("audit");
    let imports: Vec<_> = records
        .iter()
        .filter(|r| r.action == "screening_list.import")
        .collect();
    assert_eq!(imports.len(), 1, "one version, one record");
    assert_eq!(imports[0].target.as_deref(), Some("screening_list:1"));

    // Another replica builds the same index from the stored files.
    let other = screening(t.second_handle().await.expect("second handle"));
    assert!(other.refresh().await.expect("refresh"));
    assert!(!other.refresh().await.expect("refresh"), "nothing changed");
    let hits = other
        .screen_names(
            &[person("Xiaobing Yan"), person("Wilhelmina Zuckerbrot")],
            None,
        )
        .expect("screens");
    assert_eq!(hits[0][0].entry_id, "25308", "{:?}", hits[0]);
    assert_eq!(
        (hits[0][0].list.as_str(), hits[0][0].list_version),
        ("ofac-sdn", Some(1))
    );
    assert!(hits[1].is_empty(), "{:?}", hits[1]);
    let by_address = other
        .screen_address("12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h")
        .expect("screens");
    assert_eq!(by_address[0].entry_id.as_deref(), Some("25308"));
    assert!(
        other
            .screen_address("TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq")
            .expect("screens")
            .is_empty(),
        "the refused line is not kept"
    );
}

const KEY: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";

async fn watchlist_items_reach_every_replica(t: TestStore) {
    let one = screening(t.store.clone());
    let other = screening(t.second_handle().await.expect("second handle"));
    one.refresh().await.expect("refresh");
    other.refresh().await.expect("refresh");
    let actor = Actor::system("test");
    let node = one
        .watch(
            &actor,
            WatchKind::NodePubkey,
            &KEY.to_uppercase(),
            "fraud ring",
        )
        .await
        .expect("watches");
    assert_eq!(node.value, KEY);
    one.watch(
        &actor,
        WatchKind::Name,
        "Mallory Evilcorp",
        "under investigation",
    )
    .await
    .expect("watches");
    assert!(matches!(
        one.watch(&actor, WatchKind::NodePubkey, KEY, "again").await,
        Err(ComplianceError::AlreadyWatched(_))
    ));
    assert!(matches!(
        one.watch(&actor, WatchKind::Name, "Someone", "  ").await,
        Err(ComplianceError::InvalidField {
            field: "reason",
            ..
        })
    ));
    // In force on this replica at once.
    assert_eq!(one.screen_node(KEY).expect("screens").len(), 1);

    // The other replica learns at its refresh.
    assert!(other.screen_node(KEY).expect("screens").is_empty());
    assert!(other.refresh().await.expect("refresh"));
    let hits = other.screen_node(KEY).expect("screens");
    assert_eq!(hits[0].entry_id.as_deref(), Some(node.id.as_str()));
    let names = other
        .screen_names(&[person("EVILCORP, Mallory")], None)
        .expect("screens");
    assert_eq!(names[0][0].list, "internal");

    one.unwatch(&actor, &node.id).await.expect("unwatches");
    assert!(matches!(
        one.unwatch(&actor, &node.id).await,
        Err(ComplianceError::UnknownWatchItem(_))
    ));
    assert!(other.refresh().await.expect("refresh"));
    assert!(other.screen_node(KEY).expect("screens").is_empty());
    assert_eq!(other.watchlist().await.expect("lists").len(), 1);
}
