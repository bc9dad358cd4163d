//! Request-body stall (an upload whose connection stops being read) and the count of response
//! body bytes really handed to the connections.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::Installed;

/// Reads `after` bytes of the request body, then stops reading for `stall` (or until the rules
/// change); the client's writes back up in the socket buffers and stall.
pub(crate) fn stall(
    req: axum::extract::Request,
    after: u64,
    stall: Duration,
    changed: watch::Receiver<u64>,
) -> axum::extract::Request {
    req.map(|body| {
        let inner: futures_util::stream::BoxStream<'static, Result<Bytes, axum::Error>> =
            body.into_data_stream().boxed();
        let state = (inner, 0u64, Some((after, stall)), changed);
        Body::from_stream(futures_util::stream::unfold(
            state,
            |(mut inner, pos, pending, mut changed)| async move {
                let mut pending = pending;
                if let Some((at, d)) = pending {
                    if pos >= at {
                        pending = None;
                        tokio::select! {
                            _ = tokio::time::sleep(d) => {}
                            _ = changed.changed() => {}
                        }
                    }
                }
                let chunk = inner.next().await?;
                let mut chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => return Some((Err(e), (inner, pos, None, changed))),
                };
                // Split the chunk at the stall point so the stall starts exactly there.
                let mut rest = None;
                if let Some((at, _)) = pending {
                    let room = at.saturating_sub(pos);
                    if (chunk.len() as u64) > room {
                        rest = Some(chunk.split_off(room as usize));
                    }
                }
                let pos = pos + chunk.len() as u64;
                let inner: futures_util::stream::BoxStream<'static, Result<Bytes, axum::Error>> =
                    match rest {
                        Some(r) => futures_util::stream::once(async move { Ok(r) })
                            .chain(inner)
                            .boxed(),
                        None => inner.boxed(),
                    };
                Some((Ok::<_, axum::Error>(chunk), (inner, pos, pending, changed)))
            },
        ))
    })
}

/// Counts the bytes of a 2xx GET body as they go out (into the fault stats).
pub(crate) fn count_sent(resp: Response, is_get: bool, set: &Arc<Installed>) -> Response {
    if !is_get || !resp.status().is_success() || !resp.headers().contains_key("content-length") {
        return resp;
    }
    let set = set.clone();
    resp.map(|body| {
        Body::from_stream(body.into_data_stream().inspect(move |c| {
            if let Ok(b) = c {
                set.body_bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
        }))
    })
}
