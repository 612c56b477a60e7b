//! Writing a started run's answer: streamed as SSE frames from the
//! dialect's encoder (after waiting briefly for the first output, so a
//! backend that fails at once gets a real HTTP status), or folded into one
//! body by its folder, with a size cap. Dialect-neutral.

use std::borrow::Cow;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt as _, Stream, StreamExt as _};

use super::log::RequestLog;
use super::pipeline::{Started, add_route_headers};
use crate::dialect::sse::Writer;
use crate::dialect::{Encoder, Folder, Frame};
use crate::engine::Permit;
use crate::error::Error;
use crate::event::{Event, EventStream};

/// How long a stream's headers wait for the backend's first output.
const FIRST_OUTPUT_WAIT: Duration = Duration::from_secs(5);

/// Streams or folds the answer. The log goes with the answer, so a stream
/// is logged when it ends.
pub(super) async fn respond(started: Started, mut log: RequestLog) -> Response {
    let meta = started.meta(&log.id);
    let Started {
        run,
        codec,
        resolved,
        stream,
        ignored,
        sse_keepalive,
        max_answer_bytes,
    } = started;
    let conversation = run.conversation.clone();
    let mut response = if stream {
        match first_output(run.events).await {
            Ok(events) => {
                let writer = Writer::new(codec.framing());
                let content_type = writer.content_type();
                let out = Out::new(codec.encoder(meta), max_answer_bytes);
                let frames = sse_stream(events, out, writer, run.permit, log, sse_keepalive);
                (
                    [
                        (header::CONTENT_TYPE, content_type),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    Body::from_stream(frames),
                )
                    .into_response()
            }
            Err(error) => {
                log.failed(error.status().as_u16(), &error.to_string());
                error.into_response()
            }
        }
    } else {
        let mut folder = codec.folder(meta);
        let folded = fold(run.events, folder.as_mut(), &mut log, max_answer_bytes).await;
        drop(run.permit);
        match folded {
            Ok(Some(upstreams)) => {
                log.finished(200);
                ([(header::CONTENT_TYPE, "application/json")], upstreams).into_response()
            }
            Ok(None) => {
                log.finished(200);
                axum::Json(folder.body()).into_response()
            }
            Err(error) => {
                log.failed(error.status().as_u16(), &error.to_string());
                error.into_response()
            }
        }
    };
    add_route_headers(response.headers_mut(), &resolved, &ignored);
    if let Some(value) = conversation.and_then(|c| header::HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert("x-session-id", value);
    }
    response
}

/// Waits (at most [`FIRST_OUTPUT_WAIT`]) for the backend's first output
/// before the stream is committed with `200 OK`, so that a backend failing
/// at once is answered with its real HTTP status instead of an error event.
async fn first_output(mut events: EventStream) -> Result<EventStream, Error> {
    let deadline = tokio::time::Instant::now() + FIRST_OUTPUT_WAIT;
    let mut head = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            // The upstream's own frames (`message_start`) are not yet an answer.
            Ok(Some(Ok(
                event @ (Event::Session(_) | Event::Usage(_) | Event::Verbatim { .. }),
            ))) => {
                head.push(Ok(event));
            }
            Ok(Some(Ok(event))) => {
                head.push(Ok(event));
                break;
            }
            Ok(Some(Err(error))) => return Err(error),
            Ok(None) | Err(_) => break,
        }
    }
    Ok(futures_util::stream::iter(head).chain(events).boxed())
}

/// An answer past `max_bytes`, stopped; `advice` says what to do instead.
fn too_large(log: &RequestLog, max_bytes: usize, advice: &str) -> Error {
    Error::Backend {
        backend: log.backend.clone().unwrap_or_default(),
        upstream_status: None,
        message: format!(
            "the answer grew past {max_bytes} bytes (server.max_answer_bytes) and was stopped; {advice}"
        ),
    }
}

/// What a stream's events become: the encoder's frames (opened with the
/// first event), or, when the upstream's own frames come
/// ([`Event::Verbatim`], a request passed through), those frames as they
/// are, the encoder only answering a failure. An encoder that holds the
/// whole answer is capped like a folded one.
struct Out {
    encoder: Box<dyn Encoder>,
    opened: bool,
    passing: bool,
    /// Bytes of the answer so far, and the most an encoder may hold.
    held: usize,
    max_held: usize,
}

impl Out {
    fn new(encoder: Box<dyn Encoder>, max_held: usize) -> Out {
        Out {
            encoder,
            opened: false,
            passing: false,
            held: 0,
            max_held,
        }
    }

    /// The frames of one item of the event stream (`None`: it ended), logged.
    fn frames_of(
        &mut self,
        item: Option<Result<Event, Error>>,
        log: &mut RequestLog,
        frames: &mut Vec<Frame>,
    ) -> Step {
        let error = match item {
            Some(Ok(Event::Verbatim { event, data })) => {
                self.passing = true;
                frames.push(Frame {
                    event: event.map(Cow::Owned),
                    data,
                });
                return Step::More;
            }
            Some(Ok(event)) => {
                self.held += log.event(&event);
                if self.passing || !self.encoder.holds_answer() || self.held <= self.max_held {
                    // Passed through, the upstream's frames said it all.
                    if !self.passing {
                        if !self.opened {
                            self.opened = true;
                            frames.extend(self.encoder.open());
                        }
                        frames.extend(self.encoder.event(&event));
                    }
                    if !matches!(event, Event::Finish(_)) {
                        return Step::More;
                    }
                    log.finished(200);
                    return Step::Done;
                }
                let advice = "this stream repeats the whole answer in its last event; \
                              ask for less, or use /v1/chat/completions";
                too_large(log, self.max_held, advice)
            }
            Some(Err(error)) => error,
            None => unfinished(),
        };
        log.failed_in_stream(error.status().as_u16(), &error.to_string());
        frames.push(self.encoder.error(&error));
        Step::Done
    }
}

/// An answer that ended without its finish event.
fn unfinished() -> Error {
    Error::Internal("the backend's answer ended without finishing".into())
}

/// Folds the events into `folder`, refusing more than `max_bytes` of text
/// (the stream is dropped past it, which stops the backend). The
/// upstream's own body, when it comes ([`Event::Verbatim`], a request
/// passed through), is the answer instead.
async fn fold(
    mut events: EventStream,
    folder: &mut dyn Folder,
    log: &mut RequestLog,
    max_bytes: usize,
) -> Result<Option<String>, Error> {
    let mut bytes = 0_usize;
    let mut upstreams = None;
    while let Some(event) = events.next().await {
        let event = event?;
        bytes += log.event(&event);
        if bytes > max_bytes {
            return Err(too_large(
                log,
                max_bytes,
                "ask for it with \"stream\": true, which has no such limit",
            ));
        }
        let finished = matches!(event, Event::Finish(_));
        match event {
            Event::Verbatim { data, .. } => upstreams = Some(data),
            event if upstreams.is_none() => folder.push(&event),
            _ => {}
        }
        if finished {
            return Ok(upstreams);
        }
    }
    Err(unfinished())
}

/// The SSE stream: the encoder's frames for each event (those of one
/// event in one write), then the closing frames, or an error frame; the
/// encoder's keep-alive (or a `: ping` comment) after `keepalive` without
/// a write. Holds the backend's
/// slot until it ends.
fn sse_stream(
    mut events: EventStream,
    mut out: Out,
    mut writer: Writer,
    permit: Permit,
    mut log: RequestLog,
    keepalive: Option<Duration>,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    async_stream::stream! {
        let _permit = permit;
        // One timer for the whole stream, moved only when it fires.
        let every = keepalive.unwrap_or_default();
        let mut last_write = tokio::time::Instant::now();
        let ping = tokio::time::sleep(every);
        tokio::pin!(ping);
        // The first output goes at once: time to first token counts most.
        let mut turns = 0;
        loop {
            let next = tokio::select! {
                biased;
                next = events.next() => next,
                () = &mut ping, if keepalive.is_some() => {
                    let due = last_write + every;
                    if tokio::time::Instant::now() >= due {
                        let frames = out.encoder.keepalive();
                        if frames.is_empty() {
                            yield Ok(Bytes::from_static(writer.keepalive()));
                        } else {
                            yield Ok(Bytes::from(writer.frames(&frames)));
                        }
                        last_write = tokio::time::Instant::now();
                        ping.as_mut().reset(last_write + every);
                    } else {
                        ping.as_mut().reset(due);
                    }
                    continue;
                }
            };
            let mut frames = Vec::new();
            let mut step = out.frames_of(next, &mut log, &mut frames);
            // What has already arrived goes in the same write: turns of the
            // scheduler let the upstream's connection hand over its next
            // received chunk (microseconds, never a wait for new data);
            // turns that bring nothing, or a full batch, end it.
            let mut idle_turn = 0;
            while step == Step::More && frames.len() < MAX_FRAMES_PER_WRITE {
                match events.next().now_or_never() {
                    Some(ready) => {
                        idle_turn = 0;
                        step = out.frames_of(ready, &mut log, &mut frames);
                    }
                    None if idle_turn < turns => {
                        idle_turn += 1;
                        tokio::task::yield_now().await;
                    }
                    None => break,
                }
            }
            if step == Step::Done {
                let mut bytes = writer.frames(&frames);
                bytes.extend_from_slice(writer.close());
                if !bytes.is_empty() {
                    yield Ok(Bytes::from(bytes));
                }
                return;
            }
            if !frames.is_empty() {
                yield Ok(Bytes::from(writer.frames(&frames)));
                last_write = tokio::time::Instant::now();
                turns = IDLE_TURNS;
            }
        }
    }
}

/// Whether a stream goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    More,
    Done,
}

/// Scheduler turns without a new event before the frames are written: the
/// upstream's connection task needs two to hand over a chunk it has already
/// received (measured: a 50-event answer read at once goes out in one
/// write instead of 53).
const IDLE_TURNS: u32 = 2;

/// The most frames written at once.
const MAX_FRAMES_PER_WRITE: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::{LogMode, LogSettings};
    use crate::dialect::Codec as _;
    use crate::dialect::openai_chat::ChatCodec;
    use crate::event::FinishReason;

    fn stream(events: Vec<Result<Event, Error>>) -> EventStream {
        futures_util::stream::iter(events).boxed()
    }

    fn log() -> RequestLog {
        let settings = LogSettings {
            mode: LogMode::Summary,
            curl: false,
            max_chars: 100,
            events: false,
        };
        RequestLog::start("t".into(), settings, std::sync::Arc::from(Vec::new()))
    }

    fn folder() -> Box<dyn Folder> {
        ChatCodec {
            include_usage: false,
        }
        .folder(crate::dialect::AnswerMeta {
            request_id: "t".into(),
            created: 0,
            model: "m".into(),
        })
    }

    #[tokio::test]
    async fn the_first_output_decides_between_a_status_and_a_stream() {
        let failing = stream(vec![
            Ok(Event::Session("s".into())),
            Err(Error::Timeout {
                backend: "b".into(),
                after: Duration::from_secs(1),
            }),
        ]);
        let Err(error) = first_output(failing).await else {
            panic!("an error before any output is the response");
        };
        assert_eq!(error.status().as_u16(), 504);
        let answering = stream(vec![
            Ok(Event::Session("s".into())),
            Ok(Event::TextDelta("hi".into())),
            Err(Error::Internal("later".into())),
        ]);
        let events: Vec<_> = first_output(answering).await.unwrap().collect().await;
        assert_eq!(events.len(), 3, "nothing is lost: the head is replayed");
        assert!(matches!(events[2], Err(Error::Internal(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_backend_gets_its_stream_after_the_wait() {
        let silent = futures_util::stream::pending().boxed();
        let started = tokio::time::Instant::now();
        assert!(first_output(silent).await.is_ok());
        assert_eq!(started.elapsed(), FIRST_OUTPUT_WAIT);
    }

    #[tokio::test]
    async fn folding_stops_at_the_cap_and_needs_a_finish() {
        let text = |s: &str| Ok(Event::TextDelta(s.to_owned()));
        let mut f = folder();
        let capped = fold(
            stream(vec![text("12345"), text("67890")]),
            f.as_mut(),
            &mut log(),
            8,
        )
        .await;
        assert!(
            matches!(capped, Err(Error::Backend { ref message, .. }) if message.contains("max_answer_bytes")),
            "{capped:?}"
        );
        let mut f = folder();
        let unfinished = fold(stream(vec![text("a")]), f.as_mut(), &mut log(), 8).await;
        assert!(matches!(unfinished, Err(Error::Internal(_))));
        let mut f = folder();
        let done = stream(vec![
            text("ab"),
            Ok(Event::Finish(FinishReason::Stop)),
            text("late"),
        ]);
        fold(done, f.as_mut(), &mut log(), 8).await.unwrap();
        assert_eq!(f.body()["choices"][0]["message"]["content"], "ab");
    }
}
