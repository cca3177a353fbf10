//! A reply from another shard wakes a caller whose shard has nothing else
//! to do: it must not wait for the caller's executor to wake up for some
//! other reason (a timer, I/O).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_shards::{Runtime, ShardContext, ShardHandler, ShardId};
use support::{config, join};

/// Answers after a pause, long enough for the caller's executor to park.
struct SlowAnswer;

impl ShardHandler<(), ()> for SlowAnswer {
    async fn handle(&self, _source: ShardId, (): ()) {
        glommio::timer::sleep(Duration::from_millis(100)).await;
    }
}

/// How far an unrelated timer on the caller's shard is set: the only other
/// thing that would wake that shard.
const UNRELATED_TIMER: Duration = Duration::from_secs(3);

#[test]
fn a_reply_wakes_a_parked_caller_before_its_unrelated_timer() {
    let events = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let log = events.clone();
    let runtime = Runtime::start(config(2), move |ctx: ShardContext<(), ()>| {
        let log = log.clone();
        async move {
            ctx.register_handler(SlowAnswer);
            if ctx.shard_id() != ShardId::new(0) {
                return;
            }
            let timer_log = log.clone();
            glommio::spawn_local(async move {
                glommio::timer::sleep(UNRELATED_TIMER).await;
                timer_log.lock().unwrap().push("unrelated timer");
            })
            .detach();
            ctx.invoke_on(ShardId::new(1), ()).await.expect("an answer");
            log.lock().unwrap().push("reply");
        }
    })
    .expect("start");
    join(runtime).expect("every shard ends cleanly");
    assert_eq!(events.lock().unwrap().first(), Some(&"reply"));
}
