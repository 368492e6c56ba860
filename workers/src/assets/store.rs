//! Bytes in and out of R2: streaming uploads hashed on the way, reading objects back to
//! verify them, and serving downloads with ranges and entity tags.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::{stream, StreamExt};
use serde_json::json;
use sha2::{Digest, Sha256};
use worker::{Bucket, ByteStream, FixedLengthStream, HttpMetadata, Range, Request, Response};

use super::probe::PROBE_BYTES;
use super::range::{self, RangeAnswer};
use super::sniff::{sniff, Sniffed, SNIFF_BYTES};
use crate::http::{self, AppError, AppResult, Ctx};

/// What was learnt about bytes while they streamed past: their digest, length and head.
#[derive(Default)]
pub struct Tap {
    hasher: Sha256,
    bytes: u64,
    head: Vec<u8>,
}

impl Tap {
    /// Takes in the next chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
        if self.head.len() < PROBE_BYTES {
            let room = PROBE_BYTES - self.head.len();
            self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
    }

    /// Ends the tap: (SHA-256 hex, length, head).
    pub fn finish(self) -> (String, u64, Vec<u8>) {
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        (hex, self.bytes, self.head)
    }
}

/// The declared body length of a raw upload: 411 without one, 413 over `max`, 422 when empty.
pub fn content_length(ctx: &Ctx, max: u64) -> AppResult<u64> {
    let length = ctx
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            AppError::new(
                411,
                "length_required",
                "send the file with a Content-Length header",
            )
        })?;
    if length == 0 {
        return Err(AppError::invalid("empty_body", "the file is empty"));
    }
    if length > max {
        return Err(too_large(max));
    }
    Ok(length)
}

/// 413 naming the limit.
pub fn too_large(max: u64) -> AppError {
    AppError::new(
        413,
        "payload_too_large",
        format!("the file exceeds the limit of {max} bytes"),
    )
}

/// A request body whose first bytes have been read (to type it) but not yet stored.
pub struct PeekedBody {
    first: Vec<Vec<u8>>,
    rest: ByteStream,
    /// The type its first bytes tell.
    pub sniffed: Sniffed,
}

/// Reads the first [`SNIFF_BYTES`] of a raw request body and types them.
pub async fn peek(req: &mut Request) -> AppResult<PeekedBody> {
    let mut rest = req.stream().map_err(|_| unreadable())?;
    let mut first = Vec::new();
    let mut seen = 0;
    while seen < SNIFF_BYTES {
        match rest.next().await {
            Some(Ok(chunk)) => {
                seen += chunk.len();
                first.push(chunk);
            }
            Some(Err(_)) => return Err(unreadable()),
            None => break,
        }
    }
    let head: Vec<u8> = first.concat();
    let sniffed = sniff(&head[..head.len().min(SNIFF_BYTES)]);
    Ok(PeekedBody {
        first,
        rest,
        sniffed,
    })
}

fn unreadable() -> AppError {
    AppError::bad_request("malformed_body", "the request body could not be read")
}

/// Streams a peeked body of exactly `length` bytes into R2 at `key`, hashing it on the way.
/// Nothing is stored unless the whole body arrives (R2 writes are atomic).
pub async fn put_streaming(
    bucket: &Bucket,
    key: &str,
    body: PeekedBody,
    length: u64,
) -> AppResult<(String, u64, Vec<u8>)> {
    let tap = Rc::new(RefCell::new(Tap::default()));
    let feed = tap.clone();
    let chunks = stream::iter(body.first.into_iter().map(Ok))
        .chain(body.rest)
        .map(move |chunk| {
            if let Ok(bytes) = &chunk {
                feed.borrow_mut().feed(bytes);
            }
            chunk
        });
    let metadata = HttpMetadata {
        content_type: Some(body.sniffed.mime.to_string()),
        ..HttpMetadata::default()
    };
    bucket
        .put(key, FixedLengthStream::wrap(chunks, length))
        .http_metadata(metadata)
        .execute()
        .await
        .map_err(|error| {
            let mut refused = AppError::bad_request(
                "upload_interrupted",
                "the upload did not arrive whole; nothing was stored",
            );
            refused.internal = Some(error.to_string());
            refused
        })?;
    let tap = Rc::try_unwrap(tap)
        .map(RefCell::into_inner)
        .unwrap_or_else(|shared| std::mem::take(&mut *shared.borrow_mut()));
    let (sha256, bytes, head) = tap.finish();
    if bytes != length {
        let _ = bucket.delete(key).await;
        return Err(AppError::bad_request(
            "upload_interrupted",
            "the upload did not arrive whole; nothing was stored",
        ));
    }
    Ok((sha256, bytes, head))
}

/// Reads an object back, hashing it as it streams: (SHA-256 hex, length, head), or `None`
/// when the object is absent.
pub async fn read_back(bucket: &Bucket, key: &str) -> AppResult<Option<(String, u64, Vec<u8>)>> {
    let Some(object) = bucket.get(key).execute().await? else {
        return Ok(None);
    };
    let body = object
        .body()
        .ok_or_else(|| AppError::internal("object without body"))?;
    let mut chunks = body.stream()?;
    let mut tap = Tap::default();
    while let Some(chunk) = chunks.next().await {
        tap.feed(&chunk?);
    }
    Ok(Some(tap.finish()))
}

/// How a download is labelled.
pub struct Download<'a> {
    /// R2 key.
    pub key: &'a str,
    /// `Content-Type`.
    pub mime: &'a str,
    /// Quoted entity tag, when known (the record's SHA-256); else R2's own.
    pub etag: Option<String>,
    /// `Content-Disposition`.
    pub disposition: String,
    /// `Cache-Control`.
    pub cache_control: &'static str,
}

/// `inline; filename="…"; filename*=UTF-8''…` for a display name.
pub fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(byte) {
            encoded.push(*byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Serves an object: 304 when `If-None-Match` matches, 206 for a satisfiable single range,
/// 416 (in the API's error shape) for an unsatisfiable one, else 200 with the whole body.
pub async fn serve(ctx: &Ctx, bucket: &Bucket, download: Download<'_>) -> AppResult<Response> {
    let Some(head) = bucket.head(download.key).await? else {
        return Err(AppError::not_found("asset"));
    };
    let size = head.size();
    let etag = download.etag.clone().unwrap_or_else(|| head.http_etag());
    let mut response = if range::none_match(ctx.header("if-none-match").as_deref(), &etag) {
        Response::empty()?.with_status(304)
    } else {
        match range::parse(ctx.header("range").as_deref(), size) {
            RangeAnswer::Unsatisfiable => {
                let error = AppError::new(
                    416,
                    "range_not_satisfiable",
                    format!("the range is invalid or outside the {size} bytes of the asset"),
                );
                let mut response = Response::from_json(&http::error_body(&error, &ctx.request_id))?
                    .with_status(416);
                response
                    .headers_mut()
                    .set("content-range", &format!("bytes */{size}"))?;
                return Ok(response);
            }
            RangeAnswer::Partial(part) => {
                let object = bucket
                    .get(download.key)
                    .range(Range::OffsetWithLength {
                        offset: part.start,
                        length: part.len(),
                    })
                    .execute()
                    .await?
                    .ok_or_else(|| AppError::not_found("asset"))?;
                let body = object
                    .body()
                    .ok_or_else(|| AppError::internal("object without body"))?;
                let mut response = Response::from_body(body.response_body()?)?.with_status(206);
                response.headers_mut().set(
                    "content-range",
                    &format!("bytes {}-{}/{size}", part.start, part.end),
                )?;
                response
                    .headers_mut()
                    .set("content-length", &part.len().to_string())?;
                response
            }
            RangeAnswer::Full => {
                let object = bucket
                    .get(download.key)
                    .execute()
                    .await?
                    .ok_or_else(|| AppError::not_found("asset"))?;
                let body = object
                    .body()
                    .ok_or_else(|| AppError::internal("object without body"))?;
                let mut response = Response::from_body(body.response_body()?)?;
                response
                    .headers_mut()
                    .set("content-length", &size.to_string())?;
                response
            }
        }
    };
    let headers = response.headers_mut();
    headers.set("etag", &etag)?;
    headers.set("accept-ranges", "bytes")?;
    headers.set("content-type", download.mime)?;
    headers.set("content-disposition", &download.disposition)?;
    headers.set("cache-control", download.cache_control)?;
    // Uploaded bytes are served as data, never as a page of this origin.
    headers.set("content-security-policy", "default-src 'none'; sandbox")?;
    Ok(response)
}

/// An error response in the API's shape with `details` (e.g. the derivatives blocking a delete).
pub fn error_with_details(
    ctx: &Ctx,
    error: &AppError,
    details: serde_json::Value,
) -> AppResult<Response> {
    let mut body = http::error_body(error, &ctx.request_id);
    body["error"]["details"] = details;
    Ok(Response::from_json(&body)?.with_status(error.status))
}

/// Deletes objects, logging (not failing on) storage errors: the records are already gone.
pub async fn delete_objects(bucket: &Bucket, keys: Vec<String>) {
    for batch in keys.chunks(1000) {
        if let Err(error) = bucket.delete_multiple(batch.to_vec()).await {
            let line = json!({"level": "error", "msg": "asset objects not deleted", "keys": batch, "error": error.to_string()});
            worker::console_error!("{}", line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_hashes_and_keeps_the_head() {
        let mut tap = Tap::default();
        tap.feed(b"hello ");
        tap.feed(b"world");
        let (sha, bytes, head) = tap.finish();
        assert_eq!(sha, crate::util::sha256_hex(b"hello world"));
        assert_eq!(bytes, 11);
        assert_eq!(head, b"hello world");
    }

    #[test]
    fn disposition_quotes_safely() {
        assert_eq!(
            disposition("a \"b\".png"),
            "inline; filename=\"a _b_.png\"; filename*=UTF-8''a%20%22b%22.png"
        );
        assert!(disposition("été\r\n.png").is_ascii());
    }
}
