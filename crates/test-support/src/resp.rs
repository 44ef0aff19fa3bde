//! Plain RESP over a raw TCP connection: enough to drive a test's `redis-server` without a client
//! library.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends one RESP command and reads the reply: the first line for status, integer, error and
/// array replies (`+OK`, `:1`, `-ERR ...`, `*2`), the content for a bulk string (`$-1` for nil).
///
/// # Errors
/// I/O errors.
pub fn raw_command(port: u16, args: &[&str]) -> std::io::Result<String> {
    raw_command_as(port, None, args)
}

/// [`raw_command`], first authenticating with `password` when there is one (`AUTH`; its reply
/// is returned instead when it is an error).
///
/// # Errors
/// I/O errors.
pub fn raw_command_as(port: u16, password: Option<&str>, args: &[&str]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    if let Some(password) = password {
        stream.write_all(&encode(&["AUTH", password]))?;
        let reply = read_reply(&mut reader)?;
        if reply.starts_with('-') {
            return Ok(reply);
        }
    }
    stream.write_all(&encode(args))?;
    read_reply(&mut reader)
}

/// `args` as a RESP array of bulk strings.
fn encode(args: &[&str]) -> Vec<u8> {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{}\r\n", a.len(), a));
    }
    req.into_bytes()
}

/// One reply, read as [`raw_command`] describes.
fn read_reply(reader: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end().to_owned();
    match line.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
        Some(len) => {
            let mut body = vec![0u8; len + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        None => Ok(line),
    }
}
