//! The NATS server the tests use, or a clear skip.

use std::io::Read;
use std::io::Write;
use std::time::Duration;

pub const NATS: &str = "127.0.0.1:4222";

/// The NATS URL if the server answers; else a skip message, or a failure when
/// `CONCORD_REQUIRE_SERVICES=1` (CI).
pub fn nats_or_skip(test: &str) -> Option<String> {
    let reachable =
        std::net::TcpStream::connect_timeout(&NATS.parse().unwrap(), Duration::from_secs(2))
            .is_ok();
    if reachable {
        return Some(format!("nats://{NATS}"));
    }
    if std::env::var("CONCORD_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{test}: NATS not reachable at {NATS}, and CONCORD_REQUIRE_SERVICES=1 requires it");
    }
    eprintln!("{test}: skipped: NATS not reachable at {NATS}");
    None
}

/// Deletes a JetStream stream through the JetStream API subject (fire and forget).
pub fn delete_stream(stream: &str) {
    use std::io::{Read, Write};
    let Ok(mut connection) = std::net::TcpStream::connect(NATS) else {
        return;
    };
    let _ = connection.set_read_timeout(Some(Duration::from_secs(2)));
    let mut greeting = [0u8; 1024];
    let _ = connection.read(&mut greeting);
    let request = format!(
        "CONNECT {{\"verbose\":false}}\r\nPUB $JS.API.STREAM.DELETE.{stream} 0\r\n\r\nPING\r\n"
    );
    let _ = connection.write_all(request.as_bytes());
    let _ = connection.read(&mut greeting); // PONG: the server has processed the delete
}
