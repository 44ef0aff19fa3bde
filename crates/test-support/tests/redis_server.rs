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
        test_support::resp::raw_command(port, &["PING"]).is_err(),
        "the server is gone after drop"
    );
}

#[test]
fn the_builder_puts_a_port_a_password_and_extra_arguments_on_the_command_line() {
    let port = test_support::free_port();
    let redis = RedisServer::builder()
        .port(port)
        .password("pw")
        .args(["--maxmemory", "10mb"])
        .start();
    assert_eq!(redis.port(), port);
    assert_eq!(redis.url(), format!("redis://:pw@127.0.0.1:{port}"));
    assert!(
        test_support::resp::raw_command(port, &["PING"])
            .unwrap()
            .starts_with("-NOAUTH"),
        "the password is required"
    );
    assert_eq!(redis.cmd(&["PING"]), "+PONG", "cmd authenticates");
    assert!(
        redis
            .cmd(&["INFO", "memory"])
            .contains("maxmemory:10485760")
    );
}

#[test]
fn a_tls_server_serves_rediss_with_a_test_ca() {
    let redis = RedisServer::builder().tls().start();
    assert_eq!(redis.url(), format!("rediss://127.0.0.1:{}", redis.port()));
    let ca = redis.tls_ca_file().expect("a CA file");
    assert!(
        std::fs::read_to_string(ca)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert!(
        test_support::resp::raw_command(redis.port(), &["PING"]).map_or(true, |r| r != "+PONG"),
        "plain RESP does not reach a TLS-only server"
    );
}
