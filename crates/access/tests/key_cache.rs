//! Replicas keep verified API keys in memory over PostgreSQL; these tests hold them to
//! "revoked at once, everywhere": a change made on one replica, by the CLI or by an
//! operator's SQL reaches the others through the database's notices, a lost notice
//! connection empties the cache, and an entry is read again after a minute regardless.

use std::sync::Arc;
use std::time::Duration;

use access::{ApiKeyInfo, ApiKeySecret, ApiKeys, AuthFailure, NewApiKey, Pepper, Role};
use kernel::{Actor, ManualClock, RandomIds};
use store::testing::TestStore;
use store::Store;

const NOW: i64 = 1_800_000_000_000;

store::on_both_stores!(a_revocation_on_one_replica_reaches_the_other);

fn replica(store: Store, clock: &Arc<ManualClock>) -> ApiKeys {
    ApiKeys::new(
        store,
        Pepper::from_bytes([7; 32]),
        clock.clone(),
        Arc::new(RandomIds),
    )
}

fn integration() -> NewApiKey {
    NewApiKey {
        tenant_id: Some("acme".into()),
        name: "acme ERP".into(),
        roles: vec![Role::Integration],
        scopes: vec![],
        ip_allowlist: vec![],
        expires_at_ms: None,
        rate_tier: "standard".into(),
    }
}

async fn tenant(store: &Store) {
    store
        .write(|sql| ledger::create_tenant(sql, "acme", "acme", NOW))
        .await
        .expect("tenant");
}

/// Polls until `keys` answers `expected` for `token` (at most 10 s of real time: the
/// notice travels through the database).
async fn until_answers(keys: &ApiKeys, token: &str, expected: Result<(), AuthFailure>) {
    for _ in 0..500 {
        let got = keys
            .authenticate(token, None)
            .await
            .expect("store")
            .map(|_| ());
        if got == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("still not {expected:?} after 10 s");
}

async fn until_serving_from_memory(keys: &ApiKeys) {
    for _ in 0..500 {
        if keys.serves_from_memory() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the key cache never went live");
}

async fn a_revocation_on_one_replica_reaches_the_other(t: TestStore) {
    tenant(&t.store).await;
    let clock = Arc::new(ManualClock::new(NOW));
    let a = replica(t.store.clone(), &clock);
    let b = replica(t.second_handle().await.expect("second handle"), &clock);
    let (info, secret) = a
        .create(&Actor::system("req-test"), integration())
        .await
        .expect("create");
    if t.store.dialect() == store::Dialect::Postgres {
        until_serving_from_memory(&b).await;
    } else {
        assert!(
            !b.serves_from_memory(),
            "nothing tells SQLite's readers of a change"
        );
    }
    for _ in 0..3 {
        assert!(b
            .authenticate(secret.expose(), None)
            .await
            .expect("store")
            .is_ok());
    }
    a.revoke(&Actor::system("req-test"), &info.id)
        .await
        .expect("revoke");
    until_answers(&b, secret.expose(), Err(AuthFailure::Revoked)).await;
}

/// A PostgreSQL replica (a second handle on the test's database) serving from memory, and
/// `count` keys it has verified once.
async fn replica_with_kept_keys(
    count: usize,
) -> (
    TestStore,
    ApiKeys,
    Arc<ManualClock>,
    Vec<(ApiKeyInfo, ApiKeySecret)>,
) {
    let t = TestStore::postgres().await.expect("postgres store");
    tenant(&t.store).await;
    let clock = Arc::new(ManualClock::new(NOW));
    let keys = replica(t.second_handle().await.expect("second handle"), &clock);
    let mut made = Vec::new();
    for _ in 0..count {
        let key = keys
            .create(&Actor::system("req-test"), integration())
            .await
            .expect("create");
        made.push(key);
    }
    until_serving_from_memory(&keys).await;
    for (_, secret) in &made {
        let verified = keys.authenticate(secret.expose(), None).await;
        assert!(verified.expect("store").is_ok());
    }
    (t, keys, clock, made)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_sql_reaches_every_replica() {
    let (t, keys, _clock, made) = replica_with_kept_keys(1).await;
    let (info, secret) = &made[0];
    // Not through `ApiKeys`: the table's trigger announces the change all the same.
    let id = info.id.clone();
    t.store
        .write(move |sql| {
            sql.execute(
                "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2",
                &[NOW.into(), id.into()],
            )
        })
        .await
        .expect("update");
    until_answers(&keys, secret.expose(), Err(AuthFailure::Revoked)).await;
}

/// Without the trigger (dropped here), only the cache's own bounds stand between a
/// changed row and a stale answer: the entry's age, and a lost notice connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_key_is_read_again_after_a_minute_or_a_lost_connection() {
    let (t, keys, clock, made) = replica_with_kept_keys(2).await;
    let [(info, secret), (second, second_secret)] = &made[..] else {
        unreachable!("two keys")
    };
    let silent_revoke = |id: String| {
        t.store.write(move |sql| {
            sql.execute("DROP TRIGGER IF EXISTS api_keys_changed ON api_keys", &[])?;
            sql.execute(
                "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2",
                &[NOW.into(), id.into()],
            )
        })
    };
    silent_revoke(info.id.clone()).await.expect("update");
    // Nobody was told: the kept entry answers until it is a minute old.
    assert!(keys
        .authenticate(secret.expose(), None)
        .await
        .expect("store")
        .is_ok());
    clock.advance_ms(60_000);
    assert_eq!(
        keys.authenticate(secret.expose(), None)
            .await
            .expect("store"),
        Err(AuthFailure::Revoked)
    );
    // Kept again (fresh), then revoked silently: losing the notice connection empties
    // the cache, so the next request reads the row.
    assert!(keys
        .authenticate(second_secret.expose(), None)
        .await
        .expect("store")
        .is_ok());
    silent_revoke(second.id.clone()).await.expect("update");
    t.cut_listeners().await.expect("terminate the listener");
    until_answers(&keys, second_secret.expose(), Err(AuthFailure::Revoked)).await;
}
