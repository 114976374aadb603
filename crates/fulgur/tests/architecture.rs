//! ARCHITECTURE.md's crate edges are the workspace's: the block under "Crate edges" lists
//! every workspace crate with the workspace crates it depends on (normal dependencies),
//! and `cargo metadata` must say exactly the same, so the map cannot drift from the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

type Edges = BTreeMap<String, BTreeSet<String>>;

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("crates/fulgur is two levels below the root")
}

/// The edges ARCHITECTURE.md declares.
fn declared() -> Edges {
    let map = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).expect("map");
    let section = map
        .split("## Crate edges")
        .nth(1)
        .expect("ARCHITECTURE.md has a \"Crate edges\" section");
    let block = section
        .split("```text")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section holds a ```text block");
    let mut edges = Edges::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let (name, deps) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{line:?} is not `crate: deps`"));
        let deps = deps.split_whitespace().map(str::to_string).collect();
        assert!(
            edges.insert(name.trim().to_string(), deps).is_none(),
            "{name} is listed twice"
        );
    }
    edges
}

/// The edges the workspace's manifests have.
fn actual() -> Edges {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{output:?}");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let packages = metadata["packages"].as_array().expect("packages");
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_string())
        .collect();
    packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("name").to_string();
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(*d) && *d != name)
                .map(str::to_string)
                .collect();
            (name, deps)
        })
        .collect()
}

#[test]
fn the_map_lists_every_crate_and_exactly_its_edges() {
    let (declared, actual) = (declared(), actual());
    let listed: BTreeSet<&String> = declared.keys().collect();
    let present: BTreeSet<&String> = actual.keys().collect();
    assert_eq!(
        listed, present,
        "ARCHITECTURE.md lists other crates than the workspace has"
    );
    let differences: Vec<String> = actual
        .iter()
        .filter(|(name, deps)| declared[*name] != **deps)
        .map(|(name, deps)| {
            let extra: Vec<&String> = deps.difference(&declared[name]).collect();
            let missing: Vec<&String> = declared[name].difference(deps).collect();
            format!("{name}: depends on {extra:?} not in the map; the map's {missing:?} unused")
        })
        .collect();
    assert!(differences.is_empty(), "{differences:#?}");
}

#[test]
fn the_shared_crates_stay_below_the_payment_domain() {
    // What the issue that split the gateway promised: identity, audit and webhooks do not
    // link the payment domain or Lightning, and the kernel links nothing of ours.
    let actual = actual();
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(name) = todo.pop() {
            for dep in &actual[&name] {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen
    };
    assert!(actual["kernel"].is_empty());
    for shared in ["access", "oidc", "pki", "webhooks", "audit", "outbox"] {
        let reached = reach(shared);
        for domain in ["gateway", "node-pool", "ledger", "api"] {
            assert!(!reached.contains(domain), "{shared} reaches {domain}");
        }
    }
}
