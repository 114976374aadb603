//! `Store::listen` on PostgreSQL: committed notifications arrive in order after
//! `Listening`, rolled-back ones never do, a listener's own probes are not delivered, and
//! a lost connection is reported and replaced. SQLite says it has nothing to listen to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::testing::TestStore;
use store::{Listener, Notice, StoreError};

#[derive(Default)]
struct Heard(Mutex<Vec<Notice>>);

impl Listener for Heard {
    fn notice(&self, notice: Notice) {
        self.0.lock().expect("lock").push(notice);
    }
}

impl Heard {
    /// Waits (at most 10 s of real time: notices travel through the database) until the
    /// notices heard end with `last`; returns them all.
    async fn until_last(&self, last: &Notice) -> Vec<Notice> {
        for _ in 0..500 {
            let heard = self.0.lock().expect("lock").clone();
            if heard.last() == Some(last) {
                return heard;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("never heard {last:?}: {:?}", self.0.lock().expect("lock"));
    }
}

fn message(payload: &str) -> Notice {
    Notice::Message(payload.to_string())
}

async fn notify(t: &TestStore, payload: &'static str, then_fail: bool) -> Result<(), StoreError> {
    t.store
        .write(move |sql| {
            sql.execute("SELECT pg_notify('fulgur_test', $1)", &[payload.into()])?;
            if then_fail {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_notices_arrive_and_a_lost_connection_is_reported() {
    let t = TestStore::postgres().await.expect("postgres store");
    let heard = Arc::new(Heard::default());
    let listener: std::sync::Weak<dyn Listener> = Arc::downgrade(&heard) as _;
    assert!(t.store.listen("fulgur_test", listener).expect("listen"));
    heard.until_last(&Notice::Listening).await;

    notify(&t, "one", false).await.expect("committed");
    assert!(notify(&t, "rolled back", true).await.is_err());
    // Another listener's probe: an empty payload on the same channel.
    notify(&t, "", false).await.expect("committed");
    notify(&t, "two", false).await.expect("committed");
    assert_eq!(
        heard.until_last(&message("two")).await,
        vec![Notice::Listening, message("one"), message("two")]
    );

    t.cut_listeners().await.expect("terminate the listener");
    let heard_now = heard.until_last(&Notice::Listening).await;
    assert_eq!(
        heard_now[3..],
        [Notice::Lost, Notice::Listening],
        "lost, then listening again on a new connection"
    );
    notify(&t, "three", false).await.expect("committed");
    heard.until_last(&message("three")).await;
}

#[tokio::test]
async fn sqlite_has_nothing_to_listen_to() {
    let t = TestStore::sqlite().await.expect("sqlite store");
    let heard = Arc::new(Heard::default());
    let listener: std::sync::Weak<dyn Listener> = Arc::downgrade(&heard) as _;
    assert!(!t.store.listen("fulgur_test", listener).expect("listen"));
}
