//! One conformance suite, run against SQLite and PostgreSQL: every test below runs once on
//! each (`sqlite::name`, `postgres::name`). PostgreSQL tests need the server on
//! `FULGUR_TEST_DATABASE_URL` (default 127.0.0.1:5432) and fail without it.

use store::testing::TestStore;
use store::{Sql, Store, StoreConfig, StoreError, Value};

store::on_both_stores!(
    migrations_apply_once_and_record_the_version,
    an_edited_or_unknown_migration_is_refused,
    a_write_commits_or_leaves_nothing,
    constraints_map_to_typed_errors,
    concurrent_writes_commit_in_batches_each_atomic,
    a_failed_statement_in_a_batch_fails_its_job_alone,
    a_statement_that_does_not_parse_fails_its_job_alone,
    jobs_that_run_no_statement_commit_or_fail_in_their_batch,
    a_read_sees_one_snapshot,
    a_one_statement_read_refuses_a_second_statement_or_a_write,
    pipelined_statements_apply_in_order_before_the_next_one,
    a_failing_pipelined_statement_fails_its_job_alone,
    a_job_that_swallows_an_error_is_never_reported_committed_wrongly,
    values_round_trip_exactly,
    placeholders_bind_by_number,
    a_number_beyond_any_column_fails_its_statement_not_the_store,
    a_panicking_job_fails_alone_and_the_writer_lives_on,
    columns_are_read_by_name_or_position,
);

fn tenant(sql: &mut dyn Sql, id: &str) -> Result<u64, StoreError> {
    sql.execute(
        "INSERT INTO tenants (id, name, created_at_ms) VALUES ($1, $2, $3)",
        &[id.into(), format!("name-{id}").into(), Value::Int(1)],
    )
}

/// Starts `writes` concurrent write jobs, the i-th running `job(sql, i)`.
fn spawn_writes(
    store: &Store,
    writes: usize,
    job: fn(&mut dyn Sql, usize) -> Result<usize, StoreError>,
) -> Vec<tokio::task::JoinHandle<Result<usize, StoreError>>> {
    (0..writes)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.write(move |sql| job(sql, i)).await })
        })
        .collect()
}

async fn count(store: &Store, table: &'static str) -> i64 {
    store
        .read(move |sql| {
            sql.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])?
                .i64(0)
        })
        .await
        .expect("count")
}

async fn migrations_apply_once_and_record_the_version(t: TestStore) {
    assert_eq!(
        t.store.schema_version().await.expect("version"),
        store::latest_version()
    );
    assert!(
        t.store.migrate(5).await.expect("again").is_empty(),
        "nothing left to apply"
    );
    t.store.require_current_schema().await.expect("current");
    assert_eq!(
        count(&t.store, "schema_migrations").await,
        store::MIGRATIONS.len() as i64
    );
    // A second handle on the same database sees the same schema.
    let other = Store::open(&StoreConfig::new(&t.url))
        .await
        .expect("reopen");
    assert_eq!(
        other.schema_version().await.expect("version"),
        store::latest_version()
    );
}

async fn an_edited_or_unknown_migration_is_refused(t: TestStore) {
    t.store
        .write(|sql| {
            sql.execute(
                "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
                &[],
            )
        })
        .await
        .expect("tamper");
    assert!(matches!(
        t.store.schema_version().await,
        Err(StoreError::MigrationEdited { version: 1, .. })
    ));
    assert!(matches!(
        t.store.migrate(0).await,
        Err(StoreError::MigrationEdited { version: 1, .. })
    ));
    t.store
        .write(|sql| {
            sql.execute("DELETE FROM schema_migrations", &[])?;
            sql.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at_ms) \
                 VALUES (9999, 'future', 'x', 0)",
                &[],
            )
        })
        .await
        .expect("future version");
    assert!(matches!(
        t.store.schema_version().await,
        Err(StoreError::SchemaNewer { found: 9999, .. })
    ));
}

async fn a_write_commits_or_leaves_nothing(t: TestStore) {
    t.store
        .write(|sql| tenant(sql, "t1"))
        .await
        .expect("commit");
    assert_eq!(count(&t.store, "tenants").await, 1);

    // The closure fails after a successful statement: the statement is rolled back.
    let failed: Result<(), StoreError> = t
        .store
        .write(|sql| {
            tenant(sql, "t2")?;
            Err(StoreError::NotFound)
        })
        .await;
    assert_eq!(failed, Err(StoreError::NotFound));
    // A statement fails after a successful one: both are gone.
    let failed = t
        .store
        .write(|sql| {
            tenant(sql, "t3")?;
            tenant(sql, "t1")
        })
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    assert_eq!(count(&t.store, "tenants").await, 1);
    let ids: Vec<String> = t
        .store
        .read(|sql| {
            sql.query("SELECT id FROM tenants", &[])?
                .iter()
                .map(|r| r.text(0).map(str::to_string))
                .collect::<Result<_, StoreError>>()
        })
        .await
        .expect("ids");
    assert_eq!(ids, vec!["t1".to_string()]);
}

async fn constraints_map_to_typed_errors(t: TestStore) {
    t.store
        .write(|sql| tenant(sql, "t1"))
        .await
        .expect("tenant");
    let insert_account = |id: &'static str, tenant: &'static str, balance: i64| {
        move |sql: &mut dyn Sql| {
            sql.execute(
                "INSERT INTO accounts (id, tenant_id, name, kind, balance_msat, created_at_ms) \
                 VALUES ($1, $2, $1, 'customer', $3, 0)",
                &[id.into(), tenant.into(), Value::Int(balance)],
            )
        }
    };
    t.store
        .write(insert_account("a1", "t1", 0))
        .await
        .expect("account");
    let duplicate = t.store.write(insert_account("a1", "t1", 0)).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    // The database itself refuses a negative available balance.
    let negative = t.store.write(insert_account("a2", "t1", -1)).await;
    assert!(
        matches!(negative, Err(StoreError::Constraint(_))),
        "{negative:?}"
    );
    let orphan = t
        .store
        .write(insert_account("a3", "no-such-tenant", 0))
        .await;
    assert!(
        matches!(orphan, Err(StoreError::Constraint(_))),
        "{orphan:?}"
    );
    let missing = t
        .store
        .read(|sql| sql.query_one("SELECT id FROM accounts WHERE id = 'zz'", &[]))
        .await;
    assert_eq!(missing, Err(StoreError::NotFound));
    assert_eq!(count(&t.store, "accounts").await, 1);
}

async fn concurrent_writes_commit_in_batches_each_atomic(t: TestStore) {
    const WRITES: usize = 600;
    let tasks = spawn_writes(&t.store, WRITES, |sql, i| {
        tenant(sql, &format!("t{i}"))?;
        // Every third write fails after inserting: only it must roll back.
        if i % 3 == 0 {
            return Err(StoreError::Backend(format!("refused {i}")));
        }
        Ok(i)
    });
    let mut committed = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("join") {
            Ok(n) => {
                assert_eq!(n, i);
                assert_ne!(i % 3, 0);
                committed += 1;
            }
            Err(e) => assert_eq!(e, StoreError::Backend(format!("refused {i}"))),
        }
    }
    assert_eq!(committed, WRITES - WRITES.div_ceil(3));
    assert_eq!(count(&t.store, "tenants").await, committed as i64);
    let any_refused_present = t
        .store
        .read(|sql| {
            sql.query_opt(
                "SELECT id FROM tenants WHERE id IN ('t0', 't3', 't597')",
                &[],
            )
        })
        .await
        .expect("query");
    assert!(any_refused_present.is_none());
}

/// A statement the database refuses (here a duplicate key; a deadlock is the same kind of
/// error) leaves PostgreSQL's transaction aborted until its savepoint is rolled back: the
/// job fails with the typed error and the rest of its batch still commits.
async fn a_failed_statement_in_a_batch_fails_its_job_alone(t: TestStore) {
    const WRITES: usize = 300;
    t.store
        .write(|sql| tenant(sql, "taken"))
        .await
        .expect("the row every third job collides with");
    let tasks = spawn_writes(&t.store, WRITES, |sql, i| {
        tenant(sql, &format!("t{i}"))?;
        if i % 3 == 0 {
            tenant(sql, "taken")?;
        }
        Ok(i)
    });
    let mut committed = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("join") {
            Ok(n) => {
                assert_eq!((n, i % 3 == 0), (i, false));
                committed += 1;
            }
            Err(e) => {
                assert_eq!(i % 3, 0, "job {i} failed: {e}");
                assert!(matches!(e, StoreError::Conflict(_)), "typed: {e:?}");
            }
        }
    }
    assert_eq!(committed, WRITES - WRITES.div_ceil(3));
    assert_eq!(count(&t.store, "tenants").await, committed as i64 + 1);
}

/// A job's savepoint is sent with its first statement: a first statement that does not
/// even parse must still fail inside that savepoint, not abort its batch-mates.
async fn a_statement_that_does_not_parse_fails_its_job_alone(t: TestStore) {
    const WRITES: usize = 200;
    let tasks = spawn_writes(&t.store, WRITES, |sql, i| {
        if i % 4 == 0 {
            sql.execute("INSERT INTO no_such_table (id) VALUES ($1)", &["x".into()])?;
        }
        tenant(sql, &format!("t{i}"))?;
        Ok(i)
    });
    let mut committed = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("join") {
            Ok(n) => {
                assert_eq!((n, i % 4 == 0), (i, false));
                committed += 1;
            }
            Err(e) => assert_eq!(i % 4, 0, "job {i} failed: {e}"),
        }
    }
    assert_eq!(committed, WRITES - WRITES.div_ceil(4));
    assert_eq!(count(&t.store, "tenants").await, committed as i64);
}

async fn jobs_that_run_no_statement_commit_or_fail_in_their_batch(t: TestStore) {
    const WRITES: usize = 200;
    let tasks = spawn_writes(&t.store, WRITES, |sql, i| match i % 3 {
        0 => Ok(i),
        1 => Err(StoreError::NotFound),
        _ => tenant(sql, &format!("t{i}")).map(|_| i),
    });
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = task.await.expect("join");
        match i % 3 {
            1 => assert!(matches!(outcome, Err(StoreError::NotFound)), "job {i}"),
            _ => assert_eq!(outcome.expect("committed"), i),
        }
    }
    assert_eq!(count(&t.store, "tenants").await, (WRITES / 3) as i64);
}

/// A read's statements share one snapshot, even though its transaction's start travels
/// with its first statement: a write committed between two of them is not seen.
async fn a_read_sees_one_snapshot(t: TestStore) {
    let (go, went) = tokio::sync::oneshot::channel::<()>();
    let (done, written) = std::sync::mpsc::channel::<()>();
    let store = t.store.clone();
    let writer = tokio::spawn(async move {
        went.await.expect("signal");
        store.write(|sql| tenant(sql, "late")).await.expect("write");
        done.send(()).expect("signal");
    });
    let (before, after) = t
        .store
        .read(move |sql| {
            let tenants =
                |sql: &mut dyn Sql| sql.query_one("SELECT COUNT(*) FROM tenants", &[])?.i64(0);
            let before = tenants(sql)?;
            go.send(()).expect("signal");
            written.recv().expect("the write committed");
            Ok::<_, StoreError>((before, tenants(sql)?))
        })
        .await
        .expect("read");
    writer.await.expect("join");
    assert_eq!((before, after), (0, 0));
    assert_eq!(count(&t.store, "tenants").await, 1);
}

async fn a_one_statement_read_refuses_a_second_statement_or_a_write(t: TestStore) {
    t.store
        .write(|sql| tenant(sql, "one"))
        .await
        .expect("write");
    let name = t
        .store
        .read_one(|sql| {
            let row = sql.query_one("  select name FROM tenants WHERE id = $1", &["one".into()])?;
            Ok::<_, StoreError>(row.text("name")?.to_string())
        })
        .await
        .expect("one statement");
    assert_eq!(name, "name-one");
    let second = t
        .store
        .read_one(|sql| {
            sql.query("SELECT id FROM tenants", &[])?;
            sql.query("SELECT id FROM tenants", &[])
        })
        .await;
    assert!(matches!(second, Err(StoreError::Backend(_))), "{second:?}");
    let write = t.store.read_one(|sql| tenant(sql, "sneaked")).await;
    assert!(matches!(write, Err(StoreError::Backend(_))), "{write:?}");
    assert_eq!(count(&t.store, "tenants").await, 1);
}

async fn pipelined_statements_apply_in_order_before_the_next_one(t: TestStore) {
    let seen = t
        .store
        .write(|sql| {
            for i in 0..40 {
                sql.execute_pipelined(
                    "INSERT INTO tenants (id, name, created_at_ms) VALUES ($1, $2, $3)",
                    &[
                        format!("p{i:02}").into(),
                        format!("first-{i:02}").into(),
                        Value::Int(1),
                    ],
                )?;
            }
            sql.execute_pipelined(
                "UPDATE tenants SET name = 'last' WHERE id = $1",
                &["p07".into()],
            )?;
            let row = sql.query_one("SELECT COUNT(*) AS n, MAX(name) AS top FROM tenants", &[])?;
            Ok::<_, StoreError>((row.i64("n")?, row.text("top")?.to_string()))
        })
        .await
        .expect("write");
    assert_eq!(seen, (40, "last".to_string()));
    assert_eq!(count(&t.store, "tenants").await, 40);
}

/// A pipelined statement's error reaches its job: at its next statement, or at its end
/// when it has none (the job returned `Ok` before the error was known).
async fn a_failing_pipelined_statement_fails_its_job_alone(t: TestStore) {
    const WRITES: usize = 240;
    t.store
        .write(|sql| tenant(sql, "taken"))
        .await
        .expect("the row some jobs collide with");
    let tasks = spawn_writes(&t.store, WRITES, |sql, i| {
        let pipelined = |sql: &mut dyn Sql, id: &str| {
            sql.execute_pipelined(
                "INSERT INTO tenants (id, name, created_at_ms) VALUES ($1, $1, 1)",
                &[id.into()],
            )
        };
        pipelined(sql, &format!("t{i}"))?;
        match i % 4 {
            0 => pipelined(sql, "taken")?,
            1 => {
                pipelined(sql, "taken")?;
                sql.query("SELECT id FROM tenants", &[])?;
            }
            _ => {}
        }
        Ok(i)
    });
    let mut committed = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("join") {
            Ok(n) => {
                assert!(i % 4 > 1, "job {i} committed over a conflict");
                assert_eq!(n, i);
                committed += 1;
            }
            Err(e) => {
                assert!(i % 4 <= 1, "job {i} failed: {e}");
                assert!(matches!(e, StoreError::Conflict(_)), "typed: {e:?}");
            }
        }
    }
    assert_eq!(committed, WRITES / 2);
    assert_eq!(count(&t.store, "tenants").await, committed as i64 + 1);
}

/// A job that ignores a failed statement and returns `Ok`: PostgreSQL has aborted its
/// transaction (and would answer `COMMIT` with a silent rollback), SQLite has not. Either
/// way the caller hears `Ok` only if what the job wrote is there.
async fn a_job_that_swallows_an_error_is_never_reported_committed_wrongly(t: TestStore) {
    t.store
        .write(|sql| tenant(sql, "taken"))
        .await
        .expect("the row the job collides with");
    let answer = t
        .store
        .write(|sql| {
            tenant(sql, "kept")?;
            let _ignored = tenant(sql, "taken");
            Ok::<_, StoreError>(())
        })
        .await;
    let kept = t
        .store
        .read(|sql| sql.query_opt("SELECT id FROM tenants WHERE id = 'kept'", &[]))
        .await
        .expect("read")
        .is_some();
    assert_eq!(answer.is_ok(), kept, "{answer:?}");
    if t.store.dialect() == store::Dialect::Postgres {
        assert!(answer.is_err(), "an aborted transaction is not committed");
    }
}

async fn a_number_beyond_any_column_fails_its_statement_not_the_store(t: TestStore) {
    // A hostile u64 (above i64::MAX) used to panic the store's only writer thread.
    let refused = t
        .store
        .write(|sql| {
            sql.execute(
                "INSERT INTO tenants (id, name, created_at_ms) VALUES ($1, $2, $3)",
                &["huge".into(), "Huge".into(), u64::MAX.into()],
            )
        })
        .await;
    assert_eq!(refused, Err(StoreError::OutOfRange { parameter: 3 }));
    let read = t
        .store
        .read(|sql| sql.query("SELECT id FROM tenants WHERE id = $1", &[u64::MAX.into()]))
        .await;
    assert_eq!(read, Err(StoreError::OutOfRange { parameter: 1 }));
    // Every later write still commits, alone and in batches with a refused one.
    let tasks = spawn_writes(&t.store, 50, |sql, i| {
        let created: Value = if i % 10 == 0 {
            u64::MAX.into()
        } else {
            1u64.into()
        };
        sql.execute(
            "INSERT INTO tenants (id, name, created_at_ms) VALUES ($1, $2, $3)",
            &[format!("t{i}").into(), format!("n{i}").into(), created],
        )?;
        Ok(i)
    });
    let mut refused = 0;
    for task in tasks {
        if task.await.expect("join").is_err() {
            refused += 1;
        }
    }
    assert_eq!(refused, 5);
    assert_eq!(count(&t.store, "tenants").await, 45);
    assert_eq!(
        i64::MAX,
        match Value::from(i64::MAX as u64) {
            Value::Int(v) => v,
            other => panic!("{other:?}"),
        }
    );
}

async fn a_panicking_job_fails_alone_and_the_writer_lives_on(t: TestStore) {
    let tasks = spawn_writes(&t.store, 40, |sql, i| {
        tenant(sql, &format!("t{i}"))?;
        assert!(i % 8 != 0, "a bug in job {i}");
        Ok(i)
    });
    let mut failed = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => {}
            Err(e) => {
                assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
                failed += 1;
            }
        }
    }
    assert_eq!(failed, 5);
    // The panicking jobs' rows rolled back with them; the writer still commits.
    assert_eq!(count(&t.store, "tenants").await, 35);
    t.store
        .write(|sql| tenant(sql, "after"))
        .await
        .expect("the writer lives on");
    // Panicking reads, concurrently, so that most reader threads take one.
    let panics: Vec<_> = (0..16)
        .map(|_| {
            let store = t.store.clone();
            tokio::spawn(async move {
                store
                    .read(|sql| -> Result<(), StoreError> {
                        sql.query("SELECT COUNT(*) FROM tenants", &[])?;
                        panic!("a bug in a read")
                    })
                    .await
            })
        })
        .collect();
    for read in panics {
        assert!(read.await.expect("join").is_err());
    }
    // Every reader still sees new writes: none was left inside the panicked snapshot.
    for i in 0..8 {
        t.store
            .write(move |sql| tenant(sql, &format!("late{i}")))
            .await
            .expect("write");
        assert_eq!(count(&t.store, "tenants").await, 37 + i, "readers see it");
    }
}

async fn values_round_trip_exactly(t: TestStore) {
    t.store
        .write(|sql| tenant(sql, "t1"))
        .await
        .expect("tenant");
    let name = "Überweisung ⚡ 'quoted' \"double\" \\ back";
    let row = t
        .store
        .write(move |sql| {
            sql.execute(
                "INSERT INTO journal (id, kind, reference, created_at_ms) VALUES ($1, $2, $3, $4)",
                &["j1".into(), name.into(), Value::Null, Value::Int(i64::MAX)],
            )?;
            sql.query_one(
                "SELECT id, kind, reference, created_at_ms FROM journal WHERE id = $1",
                &["j1".into()],
            )
        })
        .await
        .expect("round trip");
    assert_eq!(row.text(1).expect("text"), name);
    assert_eq!(row.opt_text(2).expect("null"), None);
    assert_eq!(row.i64(3).expect("int"), i64::MAX);
    assert!(row.u64(1).is_err(), "text is not an integer");
    let min = t
        .store
        .read(|sql| sql.query_one("SELECT $1", &[Value::Int(i64::MIN)]))
        .await;
    // PostgreSQL cannot infer a bare parameter's type; SQLite echoes it.
    if let Ok(row) = min {
        assert_eq!(row.i64(0).expect("int"), i64::MIN);
    }
}

async fn placeholders_bind_by_number(t: TestStore) {
    let row = t
        .store
        .write(|sql| {
            sql.execute(
                "INSERT INTO tenants (id, name, created_at_ms) VALUES ($2, $1, $3)",
                &["the-name".into(), "the-id".into(), Value::Int(7)],
            )?;
            sql.query_one(
                "SELECT name, created_at_ms FROM tenants WHERE id = $1 AND created_at_ms = $2",
                &["the-id".into(), Value::Int(7)],
            )
        })
        .await
        .expect("insert");
    assert_eq!(row.text(0).expect("name"), "the-name");
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_typed_errors() {
    for url in ["mysql://x", "sqlite://", "", "postgres://host:notaport/db"] {
        let opened = Store::open(&StoreConfig::new(url)).await;
        assert!(
            matches!(opened, Err(StoreError::InvalidUrl(_))),
            "{url}: {:?}",
            opened.err()
        );
    }
    let mut config = StoreConfig::new("postgres://postgres@127.0.0.1:1/postgres");
    config.connect_timeout = std::time::Duration::from_millis(500);
    let opened = Store::open(&config).await;
    assert!(
        matches!(opened, Err(StoreError::Unavailable(_))),
        "{:?}",
        opened.err()
    );
}

/// A row's columns by their `SELECT` names (whatever the order) or positions; a name the
/// result does not have, or a stored name an enum does not know, is an error naming the
/// column rather than a read of the wrong one.
async fn columns_are_read_by_name_or_position(t: TestStore) {
    t.store
        .write(|sql| tenant(sql, "acme"))
        .await
        .expect("tenant");
    let row = t
        .store
        .read(|sql| {
            sql.query_one(
                "SELECT created_at_ms, name, id FROM tenants WHERE id = $1",
                &["acme".into()],
            )
        })
        .await
        .expect("row");
    assert_eq!(row.text("id").expect("by name"), "acme");
    assert_eq!(row.text(2).expect("by position"), "acme");
    assert_eq!(row.text("name").expect("name"), "name-acme");
    assert_eq!(row.i64("created_at_ms").expect("time"), 1);
    match row.text("secret") {
        Err(StoreError::Decode { column, .. }) => assert_eq!(column, "secret"),
        other => panic!("{other:?}"),
    }
    match row.i64("name") {
        Err(StoreError::Decode { column, detail }) => {
            assert_eq!(column, "name");
            assert!(detail.contains("integer"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    #[derive(Debug, PartialEq)]
    struct Upper(String);
    impl std::str::FromStr for Upper {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            s.bytes()
                .all(|b| b.is_ascii_uppercase())
                .then(|| Upper(s.to_string()))
                .ok_or(())
        }
    }
    match row.parse::<Upper>("id") {
        Err(StoreError::Decode { column, detail }) => {
            assert_eq!(column, "id");
            assert!(detail.contains("acme"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}
