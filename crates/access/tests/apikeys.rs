//! API keys on both stores: issued once and kept only as a keyed hash, scoped and
//! tenant-bound, refused when wrong, revoked, expired, rotated out or from a foreign
//! address, and every operation audited.

use std::net::IpAddr;
use std::sync::Arc;

use access::{ApiKeys, ApiScope, AuthFailure, NewApiKey, Pepper, Role};
use kernel::{Actor, ManualClock, RandomIds, Scope};
use store::testing::TestStore;
use store::Store;

store::on_both_stores!(
    a_key_authenticates_with_its_roles_scopes_and_tenant,
    wrong_unknown_and_malformed_keys_are_refused,
    revocation_is_immediate,
    expiry_and_rotation_overlap_are_enforced,
    the_ip_allowlist_is_enforced,
    tenant_admins_manage_only_their_own_keys,
    invalid_keys_are_refused_with_no_trace,
);

const NOW: i64 = 1_800_000_000_000;

struct Fixture {
    keys: ApiKeys,
    clock: Arc<ManualClock>,
    store: Store,
}

async fn fixture(t: &TestStore) -> Fixture {
    for tenant in ["acme", "globex"] {
        let id = tenant.to_string();
        t.store
            .write(move |sql| ledger::create_tenant(sql, &id, &id, NOW))
            .await
            .expect("tenant");
    }
    let clock = Arc::new(ManualClock::new(NOW));
    let keys = ApiKeys::new(
        t.store.clone(),
        Pepper::from_bytes([7; 32]),
        clock.clone(),
        Arc::new(RandomIds),
    );
    Fixture {
        keys,
        clock,
        store: t.store.clone(),
    }
}

fn admin() -> Actor {
    Actor::system("req-test")
}

fn integration(tenant: &str) -> NewApiKey {
    NewApiKey {
        tenant_id: Some(tenant.to_string()),
        name: format!("{tenant} ERP"),
        roles: vec![Role::Integration],
        scopes: vec![],
        ip_allowlist: vec![],
        expires_at_ms: None,
        rate_tier: "standard".to_string(),
    }
}

async fn audit_actions(store: &Store) -> Vec<String> {
    audit::list(
        store,
        audit::AuditFilter {
            tenant_id: None,
            after_seq: 0,
            limit: 100,
        },
    )
    .await
    .expect("audit")
    .into_iter()
    .map(|r| format!("{} {}", r.action, r.target.unwrap_or_default()))
    .collect()
}

async fn a_key_authenticates_with_its_roles_scopes_and_tenant(t: TestStore) {
    let f = fixture(&t).await;
    let mut new = integration("acme");
    new.scopes = vec![ApiScope::AuditRead];
    let (info, secret) = f.keys.create(&admin(), new).await.expect("create");
    assert!(secret.expose().starts_with("fgk_"), "recognisable prefix");
    let principal = f
        .keys
        .authenticate(secret.expose(), None)
        .await
        .expect("store")
        .expect("valid key");
    assert_eq!(principal.credential_id, info.id);
    assert_eq!(principal.tenant_id.as_deref(), Some("acme"));
    assert_eq!(principal.tenant_scope(), Scope::Tenant("acme".into()));
    assert!(
        principal.allows(ApiScope::PaymentsWrite),
        "integration role"
    );
    assert!(principal.allows(ApiScope::AuditRead), "extra scope");
    assert!(!principal.allows(ApiScope::Admin));
    assert!(!principal.allows(ApiScope::NodesRead), "deny by default");
    // Only a keyed hash is stored: neither the token nor its secret part is in the row.
    let secret_text = secret.expose().to_string();
    let stored = t
        .store
        .read(|sql| {
            let row = sql.query_one("SELECT secret_hash, name, roles FROM api_keys", &[])?;
            Ok::<_, store::StoreError>((row.blob(0)?.to_vec(), row.text(1)?.to_string()))
        })
        .await
        .expect("row");
    assert_eq!(stored.0.len(), 32);
    let hex_hash: String = stored.0.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!secret_text.contains(&hex_hash));
    assert!(!format!(
        "{:?}",
        f.keys.get(&Scope::All, &info.id).await.expect("get")
    )
    .contains(&secret_text[20..]));
    assert_eq!(
        audit_actions(&f.store).await,
        vec![format!("apikey.create {}", info.id)]
    );
}

async fn wrong_unknown_and_malformed_keys_are_refused(t: TestStore) {
    let f = fixture(&t).await;
    let (info, secret) = f
        .keys
        .create(&admin(), integration("acme"))
        .await
        .expect("create");
    let token = secret.expose();
    let wrong_secret = format!(
        "{}{}",
        &token[..token.len() - 1],
        if token.ends_with('0') { '1' } else { '0' }
    );
    let unknown = token.replace(&info.id["key_".len()..], "01aaaaaaaaaaaaaaaaaaaaaaaa");
    for (presented, why) in [
        (wrong_secret.as_str(), AuthFailure::WrongSecret),
        (unknown.as_str(), AuthFailure::UnknownKey),
        ("fgk_short", AuthFailure::Malformed),
        ("Bearer whatever", AuthFailure::Malformed),
    ] {
        assert_eq!(
            f.keys.authenticate(presented, None).await.expect("store"),
            Err(why),
            "{presented}"
        );
    }
}

async fn revocation_is_immediate(t: TestStore) {
    let f = fixture(&t).await;
    let (info, secret) = f
        .keys
        .create(&admin(), integration("acme"))
        .await
        .expect("create");
    // Verified once first, so that a replica keeping keys in memory has this one.
    for _ in 0..2 {
        assert!(f
            .keys
            .authenticate(secret.expose(), None)
            .await
            .expect("store")
            .is_ok());
    }
    f.keys.revoke(&admin(), &info.id).await.expect("revoke");
    assert_eq!(
        f.keys
            .authenticate(secret.expose(), None)
            .await
            .expect("store"),
        Err(AuthFailure::Revoked)
    );
    assert!(matches!(
        f.keys.revoke(&admin(), &info.id).await,
        Err(access::AccessError::Conflict(_))
    ));
    assert!(matches!(
        f.keys.rotate(&admin(), &info.id, 60).await,
        Err(access::AccessError::Conflict(_))
    ));
    assert_eq!(
        audit_actions(&f.store).await,
        vec![
            format!("apikey.create {}", info.id),
            format!("apikey.revoke {}", info.id)
        ]
    );
}

async fn expiry_and_rotation_overlap_are_enforced(t: TestStore) {
    let f = fixture(&t).await;
    let mut expiring = integration("acme");
    expiring.expires_at_ms = Some(NOW + 60_000);
    let (_, short_lived) = f.keys.create(&admin(), expiring).await.expect("create");
    let (old, old_secret) = f
        .keys
        .create(&admin(), integration("acme"))
        .await
        .expect("create");
    let (new, new_secret) = f
        .keys
        .rotate(&admin(), &old.id, 3_600)
        .await
        .expect("rotate");
    assert_eq!(
        (new.roles.clone(), new.tenant_id.clone()),
        (old.roles.clone(), old.tenant_id.clone())
    );
    let auth = |token: String| {
        let keys = f.keys.clone();
        async move {
            keys.authenticate(&token, None)
                .await
                .expect("store")
                .map(|p| p.credential_id)
        }
    };
    // Within the overlap both keys work.
    assert_eq!(auth(old_secret.expose().into()).await, Ok(old.id.clone()));
    assert_eq!(auth(new_secret.expose().into()).await, Ok(new.id.clone()));
    assert!(
        matches!(
            f.keys.rotate(&admin(), &old.id, 60).await,
            Err(access::AccessError::Conflict(_))
        ),
        "a key is rotated once"
    );
    f.clock.advance_ms(60_000);
    assert_eq!(
        auth(short_lived.expose().into()).await,
        Err(AuthFailure::Expired)
    );
    f.clock.advance_ms(3_600_000);
    assert_eq!(
        auth(old_secret.expose().into()).await,
        Err(AuthFailure::Expired),
        "rotated out"
    );
    assert_eq!(auth(new_secret.expose().into()).await, Ok(new.id.clone()));
    let listed = f.keys.get(&Scope::All, &old.id).await.expect("get");
    assert_eq!(listed.rotated_to.as_deref(), Some(new.id.as_str()));
    assert!(audit_actions(&f.store)
        .await
        .contains(&format!("apikey.rotate {}", old.id)));
}

async fn the_ip_allowlist_is_enforced(t: TestStore) {
    let f = fixture(&t).await;
    let mut new = integration("acme");
    new.ip_allowlist = vec![
        "10.1.0.0/16".parse().expect("cidr"),
        "::1/128".parse().expect("cidr"),
    ];
    let (_, secret) = f.keys.create(&admin(), new).await.expect("create");
    let from = |ip: &str| Some(ip.parse::<IpAddr>().expect("ip"));
    for (source, allowed) in [
        (from("10.1.2.3"), true),
        (from("::1"), true),
        (from("10.2.0.1"), false),
        (None, false),
    ] {
        let result = f
            .keys
            .authenticate(secret.expose(), source)
            .await
            .expect("store");
        assert_eq!(result.is_ok(), allowed, "{source:?}");
        if !allowed {
            assert_eq!(result, Err(AuthFailure::SourceNotAllowed));
        }
    }
}

async fn tenant_admins_manage_only_their_own_keys(t: TestStore) {
    let f = fixture(&t).await;
    let acme_admin = Actor {
        scope: Scope::Tenant("acme".into()),
        origin: audit::Origin::system("req-acme"),
        identity: "acme-admin".into(),
    };
    let (globex_key, _) = f
        .keys
        .create(&admin(), integration("globex"))
        .await
        .expect("create");
    let (acme_key, _) = f
        .keys
        .create(&acme_admin, integration("acme"))
        .await
        .expect("own tenant");
    assert!(matches!(
        f.keys.create(&acme_admin, integration("globex")).await,
        Err(access::AccessError::Forbidden(_))
    ));
    let mut platform = integration("acme");
    platform.tenant_id = None;
    assert!(matches!(
        f.keys.create(&acme_admin, platform).await,
        Err(access::AccessError::Forbidden(_))
    ));
    assert!(
        matches!(
            f.keys.revoke(&acme_admin, &globex_key.id).await,
            Err(access::AccessError::NotFound)
        ),
        "a foreign key looks absent"
    );
    let seen: Vec<String> = f
        .keys
        .list(&acme_admin.scope, None, 100)
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(seen, vec![acme_key.id]);
    assert_eq!(
        f.keys
            .list(&Scope::All, None, 100)
            .await
            .expect("list")
            .len(),
        2
    );
}

async fn invalid_keys_are_refused_with_no_trace(t: TestStore) {
    let f = fixture(&t).await;
    let mut cases = Vec::new();
    let mut no_name = integration("acme");
    no_name.name = "  ".into();
    cases.push(no_name);
    let mut nothing = integration("acme");
    nothing.roles.clear();
    cases.push(nothing);
    let mut past = integration("acme");
    past.expires_at_ms = Some(NOW - 1);
    cases.push(past);
    let mut tier = integration("acme");
    tier.rate_tier = "Gold!".into();
    cases.push(tier);
    for case in cases {
        assert!(
            matches!(
                f.keys.create(&admin(), case.clone()).await,
                Err(access::AccessError::InvalidInput(_))
            ),
            "{case:?}"
        );
    }
    assert!(matches!(
        f.keys.create(&admin(), integration("initech")).await,
        Err(access::AccessError::UnknownTenant)
    ));
    assert!(matches!(
        f.keys.rotate(&admin(), "key_nope", 10).await,
        Err(access::AccessError::NotFound)
    ));
    assert!(f
        .keys
        .list(&Scope::All, None, 100)
        .await
        .expect("list")
        .is_empty());
    assert!(
        audit_actions(&f.store).await.is_empty(),
        "nothing audited as done"
    );
}
