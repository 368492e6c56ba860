//! Bytes in and out of R2: streaming uploads hashed on the way, reading objects back to
//! verify them, and serving downloads with ranges and entity tags.
//!
//! Bytes never pass through WebAssembly memory on their way to or from R2: the request body is
//! split (`tee`) into the runtime's `FixedLengthStream` feeding R2 and its native SHA-256
//! `crypto.DigestStream`, and only the first megabyte is read here, to type and probe the file.

use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{ReadableStream, ReadableStreamDefaultReader, WritableStream};
use worker::{Bucket, Data, HttpMetadata, Range, Request, Response};

use super::probe::PROBE_BYTES;
use super::range::{self, RangeAnswer};
use super::sniff::{sniff, Sniffed, SNIFF_BYTES};
use crate::http::{self, AppError, AppResult, Ctx};

fn js_error(error: JsValue) -> AppError {
    AppError::internal(format!("{error:?}"))
}

/// Lower-case hex of bytes.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The runtime's streaming SHA-256 (`crypto.DigestStream`): write a stream into `writable`,
/// then `digest` resolves to the hash.
struct DigestStream {
    writable: WritableStream,
    digest: Promise,
}

impl DigestStream {
    fn sha256() -> AppResult<Self> {
        let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(js_error)?;
        let constructor: Function = Reflect::get(&crypto, &"DigestStream".into())
            .map_err(js_error)?
            .dyn_into()
            .map_err(js_error)?;
        let stream =
            Reflect::construct(&constructor, &Array::of1(&"SHA-256".into())).map_err(js_error)?;
        let digest: Promise = Reflect::get(&stream, &"digest".into())
            .map_err(js_error)?
            .dyn_into()
            .map_err(js_error)?;
        Ok(Self {
            writable: stream.unchecked_into(),
            digest,
        })
    }

    async fn hex(self) -> AppResult<String> {
        let buffer = JsFuture::from(self.digest).await.map_err(js_error)?;
        Ok(hex(&Uint8Array::new(&buffer).to_vec()))
    }
}

/// Reads chunks of a stream until `want` bytes (or the end), then cancels the rest.
struct Head {
    reader: ReadableStreamDefaultReader,
    bytes: Vec<u8>,
    done: bool,
}

impl Head {
    fn new(stream: &ReadableStream) -> Self {
        Self {
            reader: stream.get_reader().unchecked_into(),
            bytes: Vec::new(),
            done: false,
        }
    }

    async fn read_to(&mut self, want: usize) -> AppResult<()> {
        while !self.done && self.bytes.len() < want {
            let result = JsFuture::from(self.reader.read())
                .await
                .map_err(|_| unreadable())?;
            if Reflect::get(&result, &"done".into())
                .map_err(js_error)?
                .as_bool()
                .unwrap_or(true)
            {
                self.done = true;
                break;
            }
            let value: Uint8Array = Reflect::get(&result, &"value".into())
                .map_err(js_error)?
                .dyn_into()
                .map_err(js_error)?;
            self.bytes.extend(value.to_vec());
        }
        Ok(())
    }

    fn stop(&self) {
        if !self.done {
            let _ = self.reader.cancel();
        }
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

fn unreadable() -> AppError {
    AppError::bad_request("malformed_body", "the request body could not be read")
}

fn interrupted(detail: impl std::fmt::Debug) -> AppError {
    let mut error = AppError::bad_request(
        "upload_interrupted",
        "the upload did not arrive whole; nothing was stored",
    );
    error.internal = Some(format!("{detail:?}"));
    error
}

/// A stored upload: its SHA-256, length, type and first bytes.
pub struct Stored {
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Length in bytes.
    pub bytes: u64,
    /// The type its first bytes tell.
    pub sniffed: Sniffed,
    /// Up to [`PROBE_BYTES`] first bytes.
    pub head: Vec<u8>,
}

/// Streams a raw request body of exactly `length` bytes into R2 at `key`, hashing it on the
/// way. The first bytes are typed before anything is written; `accept` may refuse the type
/// (then nothing is stored). R2 writes are atomic: a body that does not arrive whole stores
/// nothing.
pub async fn put_request_body(
    bucket: &Bucket,
    key: &str,
    req: &Request,
    length: u64,
    accept: impl FnOnce(&Sniffed) -> AppResult<()>,
) -> AppResult<Stored> {
    let body = req.inner().body().ok_or_else(unreadable)?;
    let branches = body.tee();
    let to_store: ReadableStream = branches.get(0).unchecked_into();
    let rest: ReadableStream = branches.get(1).unchecked_into();
    let branches = rest.tee();
    let to_hash: ReadableStream = branches.get(0).unchecked_into();
    let to_read: ReadableStream = branches.get(1).unchecked_into();

    let mut head = Head::new(&to_read);
    let typed = match head.read_to(SNIFF_BYTES).await {
        Ok(()) => {
            let sniffed = sniff(&head.bytes[..head.bytes.len().min(SNIFF_BYTES)]);
            accept(&sniffed).map(|()| sniffed)
        }
        Err(error) => Err(error),
    };
    let sniffed = match typed {
        Ok(sniffed) => sniffed,
        Err(error) => {
            head.stop();
            let _ = to_store.cancel();
            let _ = to_hash.cancel();
            return Err(error);
        }
    };

    let digest = DigestStream::sha256()?;
    let hashed = JsFuture::from(to_hash.pipe_to(&digest.writable));
    let fixed = if length < u64::from(u32::MAX) {
        worker::worker_sys::FixedLengthStream::new(length as u32)
    } else {
        worker::worker_sys::FixedLengthStream::new_big_int(js_sys::BigInt::from(length))
    }
    .map_err(js_error)?;
    let fed = JsFuture::from(to_store.pipe_to(&fixed.writable()));
    let metadata = HttpMetadata {
        content_type: Some(sniffed.mime.to_string()),
        ..HttpMetadata::default()
    };
    let put = bucket
        .put(key, Data::ReadableStream(fixed.readable()))
        .http_metadata(metadata)
        .execute();
    let probe_head = async {
        let read = head.read_to(PROBE_BYTES).await;
        head.stop();
        read
    };
    let (stored, fed, hashed, read) =
        futures_util::future::join4(put, fed, hashed, probe_head).await;
    if let Err(error) = stored {
        return Err(interrupted(error));
    }
    if let Some(error) = fed.err().or(hashed.err()) {
        let _ = bucket.delete(key).await;
        return Err(interrupted(error));
    }
    read?;
    let mut head_bytes = head.bytes;
    head_bytes.truncate(PROBE_BYTES);
    Ok(Stored {
        sha256: digest.hex().await?,
        bytes: length,
        sniffed,
        head: head_bytes,
    })
}

/// Reads an object back: its SHA-256 (computed by the runtime as the object streams), length
/// and first [`PROBE_BYTES`] bytes, or `None` when the object is absent.
pub async fn read_back(bucket: &Bucket, key: &str) -> AppResult<Option<(String, u64, Vec<u8>)>> {
    let Some(object) = bucket.get(key).execute().await? else {
        return Ok(None);
    };
    let size = object.size();
    let body = object
        .body()
        .ok_or_else(|| AppError::internal("object without body"))?;
    let worker::ResponseBody::Stream(stream) = body.response_body()? else {
        return Err(AppError::internal("object body is not a stream"));
    };
    let digest = DigestStream::sha256()?;
    JsFuture::from(stream.pipe_to(&digest.writable))
        .await
        .map_err(js_error)?;
    let sha256 = digest.hex().await?;
    let head = match bucket
        .get(key)
        .range(Range::Prefix {
            length: (PROBE_BYTES as u64).min(size),
        })
        .execute()
        .await?
    {
        Some(object) if size > 0 => match object.body() {
            Some(body) => body.bytes().await?,
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    Ok(Some((sha256, size, head)))
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
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xAB, 0x0f]), "00ab0f");
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
