//! An in-process OTLP receiver for tracing tests: a real OTLP/gRPC `TraceService` (tonic, as an
//! OpenTelemetry Collector serves it) or a real OTLP/HTTP `POST /v1/traces` endpoint (protobuf
//! bodies), on a free port, collecting every span it is sent for assertions.
//!
//! ```no_run
//! use std::time::Duration;
//! use test_support::OtlpReceiver;
//!
//! let receiver = OtlpReceiver::grpc();
//! // ... run something with `--otlp-endpoint <receiver.endpoint()>` ...
//! let spans = receiver.wait_for(Duration::from_secs(10), |s| s.iter().any(|s| s.name == "decide"));
//! # let _ = spans;
//! ```
//!
//! It runs on a thread of its own (its own runtime), so blocking and async tests can use it
//! alike; dropping it stops the server and joins the thread.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::wait::wait_for;

/// One span as received, with its ids in hex and its attributes as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSpan {
    /// The span's name.
    pub name: String,
    /// Its trace id, 32 hex digits.
    pub trace_id: String,
    /// Its span id, 16 hex digits.
    pub span_id: String,
    /// Its parent's span id, 16 hex digits, or empty for a root span.
    pub parent_span_id: String,
    /// The `service.name` of its resource.
    pub service_name: Option<String>,
    /// Its attributes: strings as they are, numbers and booleans as Rust prints them.
    pub attributes: BTreeMap<String, String>,
}

impl ReceivedSpan {
    /// The attribute `key`, as text.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// A running OTLP receiver (gRPC or HTTP/protobuf), stopped when dropped.
#[derive(Debug)]
pub struct OtlpReceiver {
    port: u16,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl OtlpReceiver {
    /// An OTLP/gRPC receiver (`opentelemetry.proto.collector.trace.v1.TraceService`).
    ///
    /// # Panics
    /// When no port can be bound or the runtime cannot start.
    pub fn grpc() -> Self {
        Self::start(|listener, spans, stop| {
            Box::pin(async move {
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                let served = tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(Collector { spans }))
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stop.await;
                    })
                    .await;
                if let Err(e) = served {
                    eprintln!("otlp receiver: {e}");
                }
            })
        })
    }

    /// An OTLP/HTTP receiver: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`.
    ///
    /// # Panics
    /// As [`OtlpReceiver::grpc`].
    pub fn http() -> Self {
        Self::start(|listener, spans, mut stop| {
            Box::pin(async move {
                loop {
                    tokio::select! {
                        _ = &mut stop => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            tokio::spawn(serve_http(stream, spans.clone()));
                        }
                    }
                }
            })
        })
    }

    fn start(
        server: impl FnOnce(
            tokio::net::TcpListener,
            Arc<Mutex<Vec<ReceivedSpan>>>,
            oneshot::Receiver<()>,
        ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + 'static,
    ) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = oneshot::channel();
        let shared = spans.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("start the OTLP receiver's runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                server(listener, shared, stopped).await;
            });
        });
        Self {
            port,
            spans,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`: what `--otlp-endpoint` takes.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every span received so far, forgetting them (a long-running sink keeps only a count).
    pub fn drain(&self) -> Vec<ReceivedSpan> {
        std::mem::take(&mut *self.spans.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits until the spans received satisfy `cond`; them.
    ///
    /// # Panics
    /// After `timeout`, listing what was received.
    pub fn wait_for(
        &self,
        timeout: Duration,
        cond: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        if !wait_for(timeout, || cond(&self.spans())) {
            panic!(
                "the OTLP receiver did not get the spans expected within {timeout:?}; it got: {:#?}",
                self.spans()
            );
        }
        self.spans()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The gRPC `TraceService`: keeps what it is sent.
struct Collector {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        keep(&self.spans, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// One HTTP/1.1 connection: each `POST /v1/traces` decoded and answered 200 (an empty
/// protobuf response), anything else 404; keep-alive until the client closes.
async fn serve_http(mut stream: tokio::net::TcpStream, spans: Arc<Mutex<Vec<ReceivedSpan>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(end) = read_until_headers(&mut stream, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let length = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < end + length {
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..end + length).skip(end).collect();
        let status = if head.starts_with("POST /v1/traces ") {
            match ExportTraceServiceRequest::decode(body.as_slice()) {
                Ok(request) => {
                    keep(&spans, request);
                    "200 OK"
                }
                Err(_) => "400 Bad Request",
            }
        } else {
            "404 Not Found"
        };
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads into `buf` until it holds a whole request head; the offset just past its blank line.
async fn read_until_headers(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> Option<usize> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(i + 4);
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn keep(spans: &Mutex<Vec<ReceivedSpan>>, request: ExportTraceServiceRequest) {
    let mut spans = spans.lock().unwrap_or_else(|e| e.into_inner());
    for resource_spans in request.resource_spans {
        let service_name = resource_spans.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| text(kv.value.as_ref()))
        });
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(ReceivedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    service_name: service_name.clone(),
                    attributes: attributes(&span.attributes),
                });
            }
        }
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref())?)))
        .collect()
}

fn text(value: Option<&AnyValue>) -> Option<String> {
    Some(match value?.value.as_ref()? {
        Value::StringValue(s) => s.clone(),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
