//! The audit chain on both stores: appends in commit order (also concurrent ones), signed
//! checkpoints, and each kind of tampering found and named by `verify`.

use std::sync::Arc;

use audit::{
    append, checkpoint, list, verify, AuditFilter, Ed25519Signer, Entry, KeyStoreSigner, Origin,
    Outcome, PublicKey, Tamper,
};
use store::testing::TestStore;
use store::{Store, Value};

store::on_both_stores!(
    an_untouched_chain_verifies_and_checkpoints_sign_its_head,
    concurrent_appends_form_one_chain,
    a_modified_record_is_named,
    a_deleted_record_is_named,
    an_inserted_record_breaks_the_chain_where_it_sits,
    reordered_records_are_named,
    a_rewritten_chain_fails_at_the_signed_checkpoint,
    a_forged_checkpoint_is_refused,
    records_removed_from_the_end_are_found,
    checkpoints_signed_in_the_key_store_verify_with_its_public_key,
);

fn entry(i: i64, tenant: Option<&str>) -> Entry {
    Entry {
        at_ms: 1_700_000_000_000 + i,
        origin: Origin {
            actor_id: format!("key_{}", i % 3),
            subject: "integration".to_string(),
            request_id: format!("req-{i}"),
            source_ip: Some("10.0.0.7".to_string()),
        },
        tenant_id: tenant.map(str::to_string),
        action: "payment.create".to_string(),
        target: Some(format!("pay_{i}")),
        outcome: if i % 4 == 0 {
            Outcome::Denied
        } else {
            Outcome::Success
        },
        details: None,
    }
}

async fn append_n(store: &Store, n: i64) {
    for i in 1..=n {
        let e = entry(i, None);
        let seq = store
            .write(move |sql| append(sql, &e))
            .await
            .expect("append");
        assert!(seq >= 1);
    }
}

fn signer() -> (Arc<Ed25519Signer>, PublicKey, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = Ed25519Signer::load_or_create(&dir.path().join("audit.key")).expect("key");
    let public = signer.public_key();
    (Arc::new(signer), public, dir)
}

async fn tamper(store: &Store, statements: &'static [&'static str]) {
    store
        .write(move |sql| {
            for statement in statements {
                sql.execute(statement, &[])?;
            }
            Ok::<_, store::StoreError>(())
        })
        .await
        .expect("tamper");
}

async fn first_bad(store: &Store, key: &PublicKey) -> Option<Tamper> {
    verify(store, key).await.expect("verify").first_bad
}

async fn an_untouched_chain_verifies_and_checkpoints_sign_its_head(t: TestStore) {
    let (signer, key, _dir) = signer();
    let empty = verify(&t.store, &key).await.expect("verify");
    assert_eq!((empty.records, empty.first_bad), (0, None));
    append_n(&t.store, 5).await;
    assert_eq!(
        checkpoint(&t.store, signer.clone(), 1).await.expect("cp"),
        Some(5)
    );
    assert_eq!(
        checkpoint(&t.store, signer.clone(), 2).await.expect("cp"),
        None,
        "head already signed"
    );
    append_n(&t.store, 3).await;
    assert_eq!(checkpoint(&t.store, signer, 3).await.expect("cp"), Some(8));
    let verified = verify(&t.store, &key).await.expect("verify");
    assert_eq!(
        (
            verified.records,
            verified.checkpoints,
            verified.head_seq,
            verified.first_bad
        ),
        (8, 2, 8, None)
    );
    // The key reloads from its file, and another key does not verify the checkpoints.
    let other = signer_public_of_fresh_key();
    assert_eq!(
        first_bad(&t.store, &other).await,
        Some(Tamper::Checkpoint { seq: 5 })
    );
    let records = list(
        &t.store,
        AuditFilter {
            tenant_id: None,
            after_seq: 6,
            limit: 10,
        },
    )
    .await
    .expect("list");
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![7, 8]
    );
    assert_eq!(records[0].prev_hash.len(), 32);
}

fn signer_public_of_fresh_key() -> PublicKey {
    signer().1
}

async fn concurrent_appends_form_one_chain(t: TestStore) {
    let (_, key, _dir) = signer();
    // Two handles (two replicas' writers): appends that did not serialise on the head
    // row would fork the chain.
    let replicas = [
        t.store.clone(),
        t.second_handle().await.expect("second handle"),
    ];
    let tasks: Vec<_> = (1..=60)
        .map(|i| {
            let store = replicas[i as usize % 2].clone();
            tokio::spawn(async move {
                let e = entry(i, Some(if i % 2 == 0 { "t_even" } else { "t_odd" }));
                store.write(move |sql| append(sql, &e)).await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.expect("join").expect("append"));
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=60).collect::<Vec<_>>(),
        "every append got its own place"
    );
    let verified = verify(&t.store, &key).await.expect("verify");
    assert_eq!((verified.records, verified.first_bad), (60, None));
    let even = list(
        &t.store,
        AuditFilter {
            tenant_id: Some("t_even".into()),
            after_seq: 0,
            limit: 100,
        },
    )
    .await
    .expect("list");
    assert_eq!(even.len(), 30);
    assert!(even
        .iter()
        .all(|r| r.tenant_id.as_deref() == Some("t_even")));
}

async fn a_modified_record_is_named(t: TestStore) {
    let (_, key, _dir) = signer();
    append_n(&t.store, 6).await;
    tamper(
        &t.store,
        &["UPDATE audit_log SET outcome = 'success' WHERE seq = 4"],
    )
    .await;
    assert_eq!(
        first_bad(&t.store, &key).await,
        Some(Tamper::Modified { seq: 4 })
    );
}

async fn a_deleted_record_is_named(t: TestStore) {
    let (_, key, _dir) = signer();
    append_n(&t.store, 6).await;
    tamper(&t.store, &["DELETE FROM audit_log WHERE seq = 3"]).await;
    assert_eq!(
        first_bad(&t.store, &key).await,
        Some(Tamper::Missing { seq: 3 })
    );
}

async fn an_inserted_record_breaks_the_chain_where_it_sits(t: TestStore) {
    let (_, key, _dir) = signer();
    append_n(&t.store, 6).await;
    // Make room at 3 and insert a copy of record 2 there, correctly linked to 2 and with a
    // hash that matches its fields: it is the record after it that no longer follows.
    tamper(
        &t.store,
        &[
            "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3",
            "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 103",
            "UPDATE audit_head SET seq = seq + 1",
        ],
    )
    .await;
    let two = list(
        &t.store,
        AuditFilter {
            tenant_id: None,
            after_seq: 1,
            limit: 1,
        },
    )
    .await
    .expect("list")
    .remove(0);
    let forged = Entry {
        target: Some("pay_forged".into()),
        ..entry(2, None)
    };
    // The algorithm is public; only checkpoints need a secret.
    let prev: [u8; 32] = two.hash.clone().try_into().expect("32 bytes");
    let hash = audit::record_hash(3, &prev, &forged).to_vec();
    t.store
        .write(move |sql| {
            sql.execute(
                "INSERT INTO audit_log (seq, at_ms, actor_id, subject, tenant_id, action, target, \
                 outcome, request_id, source_ip, details, prev_hash, hash) \
                 VALUES (3, $1, $2, $3, NULL, $4, $5, $6, $7, $8, NULL, $9, $10)",
                &[
                    forged.at_ms.into(),
                    forged.origin.actor_id.clone().into(),
                    forged.origin.subject.clone().into(),
                    forged.action.clone().into(),
                    forged.target.clone().into(),
                    forged.outcome.as_str().into(),
                    forged.origin.request_id.clone().into(),
                    forged.origin.source_ip.clone().into(),
                    Value::Blob(two.hash.clone()),
                    Value::Blob(hash),
                ],
            )
        })
        .await
        .expect("insert");
    assert_eq!(
        first_bad(&t.store, &key).await,
        Some(Tamper::Unlinked { seq: 4 })
    );
}

async fn reordered_records_are_named(t: TestStore) {
    let (_, key, _dir) = signer();
    append_n(&t.store, 6).await;
    tamper(
        &t.store,
        &[
            "UPDATE audit_log SET seq = 100 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = 4",
            "UPDATE audit_log SET seq = 4 WHERE seq = 100",
        ],
    )
    .await;
    assert_eq!(
        first_bad(&t.store, &key).await,
        Some(Tamper::Unlinked { seq: 3 })
    );
}

async fn a_rewritten_chain_fails_at_the_signed_checkpoint(t: TestStore) {
    let (signer, key, _dir) = signer();
    append_n(&t.store, 4).await;
    checkpoint(&t.store, signer, 10).await.expect("checkpoint");
    // A forger with database access rebuilds the chain from scratch with record 2 changed:
    // every hash and link is right, but the checkpoint signed the old record 4.
    let originals = list(
        &t.store,
        AuditFilter {
            tenant_id: None,
            after_seq: 0,
            limit: 10,
        },
    )
    .await
    .expect("list");
    t.store
        .write(move |sql| {
            sql.execute("DELETE FROM audit_log", &[])?;
            sql.execute(
                "UPDATE audit_head SET seq = 0, hash = $1",
                &[Value::Blob(vec![0; 32])],
            )?;
            for (i, record) in originals.iter().enumerate() {
                let mut e = entry(i as i64 + 1, None);
                if record.seq == 2 {
                    e.outcome = Outcome::Failed;
                }
                append(sql, &e)?;
            }
            Ok::<_, store::StoreError>(())
        })
        .await
        .expect("rewrite");
    assert_eq!(
        first_bad(&t.store, &key).await,
        Some(Tamper::Checkpoint { seq: 4 })
    );
}

async fn a_forged_checkpoint_is_refused(t: TestStore) {
    let (signer, key, _dir) = signer();
    append_n(&t.store, 3).await;
    checkpoint(&t.store, signer, 10).await.expect("checkpoint");
    tamper(
        &t.store,
        &["UPDATE audit_checkpoints SET at_ms = at_ms + 1"],
    )
    .await;
    assert_eq!(
        first_bad(&t.store, &key).await,
        Some(Tamper::Checkpoint { seq: 3 })
    );
}

async fn records_removed_from_the_end_are_found(t: TestStore) {
    let (_, key, _dir) = signer();
    append_n(&t.store, 5).await;
    tamper(&t.store, &["DELETE FROM audit_log WHERE seq >= 4"]).await;
    assert_eq!(
        first_bad(&t.store, &key).await,
        Some(Tamper::HeadMismatch { seq: 4 })
    );
}

/// A secp256k1 key in the key store signs (ECDSA over SHA-256); its public half, given as
/// 66 hex characters, verifies; the key is generated once and found again; a forged
/// signature is named.
async fn checkpoints_signed_in_the_key_store_verify_with_its_public_key(t: TestStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Arc<dyn keystore::KeyStore> = Arc::new(
        keystore::SoftwareStore::create(&dir.path().join("keys"), "audit test").expect("keys"),
    );
    let signer =
        KeyStoreSigner::open_or_generate(Arc::clone(&keys), "audit-checkpoint").expect("generated");
    let again = KeyStoreSigner::open_or_generate(keys, "audit-checkpoint").expect("found");
    assert_eq!(signer.public_key(), again.public_key());
    let hex = signer.public_key().to_hex();
    assert_eq!(hex.len(), 66);
    let key = PublicKey::from_hex(&hex).expect("parses");
    append_n(&t.store, 4).await;
    assert_eq!(
        checkpoint(&t.store, Arc::new(signer), 1).await.expect("cp"),
        Some(4)
    );
    let verified = verify(&t.store, &key).await.expect("verify");
    assert_eq!((verified.checkpoints, verified.first_bad), (1, None));
    assert_eq!(
        first_bad(&t.store, &signer_public_of_fresh_key()).await,
        Some(Tamper::Checkpoint { seq: 4 }),
        "an Ed25519 key does not verify it"
    );
    tamper(
        &t.store,
        &["UPDATE audit_checkpoints SET at_ms = at_ms + 1 WHERE seq = 4"],
    )
    .await;
    assert_eq!(
        first_bad(&t.store, &key).await,
        Some(Tamper::Checkpoint { seq: 4 })
    );
    assert!(PublicKey::from_hex(&"ab".repeat(20)).is_err());
}
