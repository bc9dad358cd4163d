//! `Client::upload_stream`: uploads from any `AsyncRead` (stdin, a pipe, a decompressor) in
//! buffered parts. Not resumable: a stream cannot be rewound across runs.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;

use super::{AbortGuard, Plan, Tracker, TransferOptions, MAX_PARTS};
use crate::body::Body;
use crate::client::Client;
use crate::error::Error;
use crate::ops::multipart::{CompletedPart, PartMeta};
use crate::ops::object::PutObjectOutput;
use crate::ops::validate_key;

impl Client {
    /// Uploads everything `reader` yields as `bucket/key`.
    ///
    /// The first part's worth of bytes is read before deciding: if the stream ends before
    /// [`TransferOptions::part_size`] bytes (and below the threshold) it goes up in one PutObject,
    /// else as a multipart upload. Each part is buffered so it can be resent, and a part is read
    /// only into a free slot: at most `part_size × concurrency` bytes are in memory at once.
    ///
    /// Without [`TransferOptions::stream_len`] the total is unknown, the part size is not raised
    /// and a stream longer than 10 000 parts fails when its 10 001st part is read (before it is
    /// sent). With it, the part size is raised as for files so the stream fits in 10 000 parts,
    /// a length that cannot fit is refused before anything is sent, and a stream that yields
    /// more (or less) than it said fails before the excess is sent (before completing).
    /// `checkpoint_dir` and `resumable` are ignored; the multipart upload is aborted on failure
    /// and when the future is dropped. Progress reports `bytes_total` as `stream_len` (0 when
    /// unknown) and `parts_total` as 0.
    pub async fn upload_stream<R>(
        &self,
        mut reader: R,
        bucket: &str,
        key: &str,
        opts: &TransferOptions,
    ) -> Result<PutObjectOutput, Error>
    where
        R: AsyncRead + Unpin + Send,
    {
        validate_key(key)?;
        let part_size = stream_part_size(opts)?;
        let mut tracker = Tracker::new(opts, opts.stream_len.unwrap_or(0), 0);
        tracker.report();
        let first = read_part(&mut reader, part_size).await?;
        if (first.len() as u64) < part_size && (first.len() as u64) < opts.multipart_threshold {
            let n = first.len() as u64;
            check_len(opts, n)?;
            let out = self
                .put_object(bucket, key, Body::from(first), opts.put.clone())
                .await?;
            tracker.part_done(n);
            return Ok(out);
        }
        let upload_id = self
            .initiate_multipart_upload(bucket, key, &opts.put)
            .await?;
        let mut guard = AbortGuard::new(self, bucket, key, &upload_id, true);
        let result = self
            .stream_parts(
                reader,
                first,
                part_size,
                bucket,
                key,
                &upload_id,
                opts,
                &mut tracker,
            )
            .await;
        match result {
            Ok(out) => {
                guard.disarm();
                Ok(out)
            }
            Err(e) => {
                guard.abort_now().await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn stream_parts<R>(
        &self,
        mut reader: R,
        first: Bytes,
        part_size: u64,
        bucket: &str,
        key: &str,
        upload_id: &str,
        opts: &TransferOptions,
        tracker: &mut Tracker,
    ) -> Result<PutObjectOutput, Error>
    where
        R: AsyncRead + Unpin + Send,
    {
        // `next` (a part read but not yet sent) and the parts in flight share the
        // `parallelism` slots; a new part is read only into a free one.
        let mut next: Option<Bytes> = Some(first);
        let mut ended = false;
        let mut number = 0u32;
        let mut total = 0u64;
        let mut done: BTreeMap<u32, PartMeta> = BTreeMap::new();
        let mut set: JoinSet<Result<PartMeta, Error>> = JoinSet::new();
        loop {
            while !ended && set.len() < opts.parallelism() {
                let data = match next.take() {
                    Some(d) => d,
                    None => read_part(&mut reader, part_size).await?,
                };
                // An empty read after full parts ends the stream (no empty last part).
                if data.is_empty() && number > 0 {
                    ended = true;
                    break;
                }
                ended = (data.len() as u64) < part_size;
                number += 1;
                total += data.len() as u64;
                if number as u64 > MAX_PARTS {
                    return Err(Error::invalid_input(format!(
                        "the stream is longer than {MAX_PARTS} parts of {part_size} bytes; \
                         raise part_size or set stream_len"
                    )));
                }
                if opts.stream_len.is_some_and(|want| total > want) {
                    return Err(check_len(opts, total).unwrap_err());
                }
                let (c, b, k, id) = (
                    self.clone(),
                    bucket.to_owned(),
                    key.to_owned(),
                    upload_id.to_owned(),
                );
                let n = number;
                set.spawn(crate::pipeline::deadline::inherit(async move {
                    c.upload_part(&b, &k, &id, n, Body::from(data)).await
                }));
            }
            match set.join_next().await {
                None => break,
                Some(Ok(Ok(part))) => {
                    let len = part.size;
                    done.insert(part.part_number, part);
                    tracker.part_done(len);
                }
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Some(Err(e)) => return Err(Error::from(std::io::Error::other(e.to_string()))),
            }
        }
        check_len(opts, total)?;
        let parts: Vec<CompletedPart> = done.values().map(CompletedPart::from).collect();
        self.complete_multipart_upload(bucket, key, upload_id, &parts)
            .await
    }
}

/// The part size of a stream: as asked (at least the minimum), or, with a known length, raised
/// so that it fits in [`MAX_PARTS`] parts — refused when it cannot.
fn stream_part_size(opts: &TransferOptions) -> Result<u64, Error> {
    Ok(Plan::new(opts.stream_len.unwrap_or(0), opts.part_size)?.part_size)
}

/// The stream yielded `got` bytes; fine unless it said otherwise.
fn check_len(opts: &TransferOptions, got: u64) -> Result<(), Error> {
    match opts.stream_len {
        Some(want) if got != want => Err(Error::invalid_input(format!(
            "the stream yielded {}{got} bytes but stream_len says {want}; nothing was completed",
            if got > want { "at least " } else { "" }
        ))),
        _ => Ok(()),
    }
}

/// Reads until `size` bytes or the end of the stream.
async fn read_part<R: AsyncRead + Unpin>(reader: &mut R, size: u64) -> Result<Bytes, Error> {
    let mut buf = BytesMut::with_capacity(size as usize);
    while (buf.len() as u64) < size {
        let want = size as usize - buf.len();
        let n = (&mut *reader).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_length_raises_the_part_size() {
        let o = |len| TransferOptions {
            stream_len: len,
            ..TransferOptions::default().with_part_size(super::super::MIN_PART_SIZE)
        };
        assert_eq!(stream_part_size(&o(None)).unwrap(), 100 * 1024);
        let len = (MAX_PARTS + 1) * 100 * 1024;
        let ps = stream_part_size(&o(Some(len))).unwrap();
        assert!(ps > 100 * 1024 && len.div_ceil(ps) <= MAX_PARTS, "{ps}");
        assert!(stream_part_size(&o(Some(5 * 1024 * 1024 * 1024 * MAX_PARTS + 1))).is_err());
    }
}
