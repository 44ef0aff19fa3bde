//! The Redis helper starts a real server, restarts it empty, and stops it on drop.

use test_support::RedisServer;

#[test]
fn starts_restarts_empty_and_stops_on_drop() {
    let mut redis = RedisServer::start();
    assert_eq!(redis.cmd(&["SET", "k", "v"]), "+OK");
    assert_eq!(redis.cmd(&["EXISTS", "k"]), ":1");
    redis.restart();
    assert_eq!(
        redis.cmd(&["EXISTS", "k"]),
        ":0",
        "a restarted server comes back empty"
    );
    let port = redis.port();
    drop(redis);
    assert!(
        test_support::redis::raw_command(port, &["PING"]).is_err(),
        "the server is gone after drop"
    );
}
