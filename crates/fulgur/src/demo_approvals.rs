//! The demo's approval policy (issue 24 §5): the customer's default put in force by the
//! two demo administrators over the API, with the operations and backup HSM keys in the
//! demo's key store and three people (CEO, CTO, custodian) whose Ed25519 keys and approver
//! API keys are in `DATA_DIR/approvers/`. From 10,000 EUR a payment waits for both HSM
//! keys and an executive; the HSM keys sign by themselves once an executive has.
//!
//! One departure from the customer's default, printed as such: below 10,000 EUR payments
//! go without approval (the default asks the operations HSM and an executive for every
//! payment), so that the other examples and a user's first payments run unattended.

use std::path::{Path, PathBuf};

use anyhow::Context;
use approvals::{Approver, ApproverKey, CustomerKeys, Outcome, Policy};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

use crate::remote::{get_json, post_json};

/// The people of the policy: (approver id, name).
const PEOPLE: [(&str, &str); 3] = [("ceo", "CEO"), ("cto", "CTO"), ("custodian", "Custodian")];
/// The customer's rule for payments below 10,000 EUR, which the demo relaxes.
const SMALL_PAYMENT_RULE: &str = "payment";

fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("approvers")
}

/// The approvers' API key files (name, path), for the bootstrap: one per person, in
/// `DATA_DIR/approvers/` (made here, readable by the owner only).
pub fn key_files(data_dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir(data_dir))
        .with_context(|| format!("create {}", dir(data_dir).display()))?;
    Ok(PEOPLE
        .iter()
        .map(|(id, name)| {
            let file = dir(data_dir).join(format!("{id}.key"));
            (format!("demo approver {name}"), file)
        })
        .collect())
}

/// A person's signing key file (`fulgur approvals approve --signing-key-file`).
pub fn seed_file(data_dir: &Path, approver: &str) -> PathBuf {
    dir(data_dir).join(format!("{approver}.seed"))
}

/// The demo policy: the people's keys (made on the first run, mode 0600), `credentials`
/// their API key ids in [`PEOPLE`] order, `hsm` the key store's approval keys.
pub fn policy(
    data_dir: &Path,
    credentials: &[String],
    hsm: &[(&str, String)],
) -> anyhow::Result<Policy> {
    let [operations, backup] = hsm else {
        anyhow::bail!("the demo policy has two HSM keys");
    };
    let people = PEOPLE
        .iter()
        .zip(credentials)
        .map(|((id, name), credential)| {
            let seed = secret_file::load_or_create(&seed_file(data_dir, id))?;
            let public = SigningKey::from_bytes(&seed).verifying_key();
            Ok(Approver {
                id: id.to_string(),
                name: name.to_string(),
                identity: Some(credential.clone()),
                key: ApproverKey::Ed25519(hex::encode(public.as_bytes())),
                hsm_label: None,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let Ok([ceo, cto, custodian]) = <[Approver; 3]>::try_from(people) else {
        anyhow::bail!("the demo policy has three people");
    };
    let hsm_approver = |(label, public): &(&str, String), id: &str, name: &str| Approver {
        id: id.to_string(),
        name: name.to_string(),
        identity: None,
        key: ApproverKey::Secp256k1(public.clone()),
        hsm_label: Some(label.to_string()),
    };
    let mut policy = approvals::customer_default(CustomerKeys {
        operations_hsm: hsm_approver(operations, "hsm-operations", "Operations HSM key"),
        backup_hsm: hsm_approver(backup, "hsm-backup", "Backup HSM key"),
        ceo,
        cto,
        custodian,
    });
    let small = policy
        .rules
        .iter_mut()
        .find(|rule| rule.name == SMALL_PAYMENT_RULE)
        .context("the customer's default has a rule for payments below 10,000 EUR")?;
    small.name = "demo-below-10000-eur".into();
    small.then = Outcome::Allow;
    policy.validate()?;
    Ok(policy)
}

/// What is in force after [`put_in_force`].
pub enum InForce {
    /// The demo's policy, this version.
    Demo(i64),
    /// A policy someone put in force since (kept: a restart does not undo it).
    Other(i64),
}

/// Puts `policy` in force over the API on a store with no policy in force: proposed by
/// the first administrator, approved by the second. A restart finds it (or a policy put
/// in force since) and changes nothing.
pub async fn put_in_force(
    api: &str,
    admin_key: &Path,
    second_admin_key: &Path,
    policy: &Policy,
) -> anyhow::Result<InForce> {
    let wanted = serde_json::to_value(policy)?;
    let versions = get_json(api, admin_key, "/v1/approval-policies").await?;
    let active = versions["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["state"] == "active");
    if let Some(active) = active {
        let version = version_of(active)?;
        return Ok(if active["policy"] == wanted {
            InForce::Demo(version)
        } else {
            InForce::Other(version)
        });
    }
    let proposed = post_json(
        api,
        admin_key,
        "/v1/approval-policies",
        &json!({ "policy": wanted }),
    )
    .await?;
    let version = version_of(&proposed)?;
    let path = format!("/v1/approval-policies/{version}/approve");
    post_json(api, second_admin_key, &path, &json!({})).await?;
    Ok(InForce::Demo(version))
}

fn version_of(view: &Value) -> anyhow::Result<i64> {
    view["version"]
        .as_i64()
        .context("a policy version without a number")
}

/// The CEO's approval of the payment in `$BIG` from the command line: signed with the
/// CEO's key on this machine, sent with the CEO's approver API key.
pub fn approve_command(data_dir: &Path) -> String {
    let fulgur = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "fulgur".into());
    format!(
        "{fulgur} approvals approve --url $API --key-file {} --approver ceo --signing-key-file {} $BIG",
        dir(data_dir).join("ceo.key").display(),
        seed_file(data_dir, "ceo").display()
    )
}
