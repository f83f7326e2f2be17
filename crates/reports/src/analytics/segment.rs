//! Segments and their download (apple-semantics.md §2.2, reports-formats.md §4.1): one segment per
//! instance, id `<instanceId>-s1`, whose `url` is served by crabapple itself outside Apple's
//! namespace — `/crabapple/analytics/segments/<segmentId>.txt.gz?Expires=<unix s>&Signature=<hex>`
//! on the client's own scheme and host, pre-signed (HMAC-SHA256 of the segment id and expiry
//! with a per-data-directory key) so no Authorization header is needed.
//!
//! crabapple's choices where Apple's storage is not documented (open question 12): a URL lives
//! [`URL_LIFETIME_MS`] (1 hour) of the virtual clock; the body is the gzip bytes themselves
//! (`Content-Type: application/octet-stream`, no `Content-Encoding`), `checksum` is the md5 (hex)
//! of those bytes and `sizeInBytes` their length. Failures answer like S3 with an XML `<Error>`
//! (`application/xml`): 403 `AccessDenied` "Request has expired" past the expiry, 403
//! `SignatureDoesNotMatch` for a wrong signature, 404 `NoSuchKey` when the instance is gone (or
//! empty by an injected fault). A download counts as the request's activity
//! ([`lifecycle::record_download`]); injected missing days remove their rows from DAILY files and
//! say so in `X-Crabapple-Reason` next to the privacy count. The bytes of a file are kept by the
//! report files cache once its Dates are final ([`rendered_gz`]), so a segment's metadata and its
//! downloads render it once.

use super::faults::{self, Fault};
use super::files;
use super::lifecycle::{self, Live};
use super::schedule::{Granularity, Instance};
use crate::transport::gzip;
use crate::{cache, pacific, period};
use anyhow::Result;
use aws_lc_rs::hmac;
use crabapple_jsonapi::{AscError, Reply};
use crabapple_store::Store;
use jiff::civil::Date;
use md5::{Digest, Md5};
use std::collections::BTreeSet;

/// How long a segment URL is valid (crabapple's choice, virtual clock).
pub const URL_LIFETIME_MS: i64 = 3_600_000;
/// The path prefix of segment downloads.
pub const PATH: &str = "/crabapple/analytics/segments/";
const KEY_META: &str = "analytics.segmentUrlKey";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The segment's gzip bytes, their md5 (hex), the id of the segment and what the privacy
/// measures (Detailed files) and injected faults removed.
pub struct SegmentFile {
    pub id: String,
    pub gz: Vec<u8>,
    pub checksum: String,
    pub reason: Option<String>,
    /// §4.5: the report is not generated for the period (an app-usage report of fewer than 5
    /// users): the instance has no segment, and this says why.
    pub withheld: Option<String>,
}

pub fn segment_id(instance: &Instance) -> String {
    format!("{}-s1", instance.id())
}

/// The instance a segment id names.
pub fn parse_segment_id(id: &str) -> Option<Instance> {
    Instance::parse_id(id.strip_suffix("-s1")?)
}

/// A file's text before gzip and why it has what it has.
pub struct Content {
    pub text: String,
    /// What the privacy measures and injected faults did ([`files::Rendered::reason`], faults).
    pub reasons: Vec<String>,
    /// §4.5: why the report is withheld for the period, if it is.
    pub withheld: Option<String>,
    /// The rows the privacy threshold dropped, as the file would have had them.
    pub dropped_rows: Vec<String>,
    /// Per metric column, the noise added to the kept rows in all
    /// ([`files::Rendered::noise_by_metric`]).
    pub noise: Vec<(&'static str, String)>,
}

/// The text of `instance`'s file for the request `live` and why it has what it has: the rows
/// [`files::render`] makes (with [`files::Rendered::reason`]), less those of injected missing
/// days (DAILY files; weekly and monthly ones are complete by default, reports-formats.md §4.4).
pub async fn content(store: &Store, instance: &Instance, live: &Live) -> Result<Content> {
    let rendered = files::render(store, instance, &live.app).await?;
    let mut reasons: Vec<String> = rendered.reason(instance.report).into_iter().collect();
    let noise = rendered.noise_by_metric(instance.report);
    let files::Rendered {
        mut text,
        withheld,
        dropped_rows,
        ..
    } = rendered;
    if instance.granularity == Granularity::Daily {
        let faults: Vec<_> = live.faults_of(instance.report).collect();
        if faults.iter().any(|f| f.kind == faults::Kind::MissingDays) {
            let (kept, removed) = drop_missing_days(&text, instance, live, &faults);
            text = kept;
            reasons.extend(removed);
        }
    }
    Ok(Content {
        text,
        reasons,
        withheld,
        dropped_rows,
        noise,
    })
}

/// The file of `instance` for the request `live`, gzip'd ([`content`]; without injected missing
/// days, the bytes of [`rendered_gz`], from the report files cache).
pub async fn file(store: &Store, instance: &Instance, live: &Live) -> Result<SegmentFile> {
    let missing_days = instance.granularity == Granularity::Daily
        && live
            .faults_of(instance.report)
            .any(|f| f.kind == faults::Kind::MissingDays);
    let (gz, reason, withheld) = if missing_days {
        let c = content(store, instance, live).await?;
        let reason = (!c.reasons.is_empty()).then(|| c.reasons.join("; "));
        (gzip(&c.text), reason, c.withheld)
    } else {
        rendered_gz(store, instance, &live.app).await?
    };
    Ok(SegmentFile {
        id: segment_id(instance),
        checksum: hex(&Md5::digest(&gz)),
        gz,
        reason,
        withheld,
    })
}

/// Internal headers of a cached file: [`files::Rendered::reason`] and `withheld`.
const CACHED_REASON: &str = "x-analytics-reason";
const CACHED_WITHHELD: &str = "x-analytics-withheld";

/// The gzip bytes of [`files::render`]'s file of `instance` for app `app`, its privacy reason and
/// why it is withheld, if it is. The file depends on the app, report, granularity and processing
/// date only (not on the request), and its Dates end at 00:00 Pacific of the processing date:
/// from 08:00 Pacific that day on — when the Sales reports count its last Date as reported, so
/// that any later write into its days changes the database's report generation token — it is
/// computed once and kept by the report files cache ([`crate::cache`], the same guards as the
/// Sales files); before, it is computed on every request.
pub async fn rendered_gz(
    store: &Store,
    instance: &Instance,
    app: &str,
) -> Result<(Vec<u8>, Option<String>, Option<String>)> {
    let compute = async {
        let r = files::render(store, instance, app).await?;
        let mut headers = Vec::new();
        if let Some(x) = r.reason(instance.report) {
            headers.push((CACHED_REASON.to_string(), x));
        }
        if let Some(w) = &r.withheld {
            headers.push((CACHED_WITHHELD.to_string(), w.clone()));
        }
        Ok(Reply {
            status: 200,
            content_type: None,
            headers,
            body: gzip(&r.text),
        })
    };
    let p = instance.processing_date;
    let reply = if store.now_ms() >= period::at_8_pacific(p) {
        let key = format!(
            "analytics/{app}/r{}/{}/{p}",
            instance.report.n,
            instance.granularity.name()
        );
        cache::serve(store, &key, pacific::day_bounds_ms(p).0, compute).await
    } else {
        compute.await
    }
    .map_err(|e: AscError| anyhow::anyhow!("{}: {}", e.title, e.detail.unwrap_or_default()))?;
    let header = |name: &str| {
        reply
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (reason, withheld) = (header(CACHED_REASON), header(CACHED_WITHHELD));
    Ok((reply.body, reason, withheld))
}

/// The separator and index of the Date column of a file's header line (`Date`, or `Event Date`;
/// tab- or comma-separated).
pub fn date_column(header: &str) -> Option<(char, usize)> {
    let sep = if header.contains('\t') { '\t' } else { ',' };
    let col = header
        .trim_end()
        .split(sep)
        .position(|c| c == "Date" || c == "Event Date")?;
    Some((sep, col))
}

/// The Date of a data line.
pub fn row_date(line: &str, (sep, col): (char, usize)) -> Option<Date> {
    line.split(sep).nth(col)?.trim_end().parse().ok()
}

/// `text` without the rows whose Date an injected `missingDays` fault names, and one sentence
/// per fault that removed rows.
fn drop_missing_days(
    text: &str,
    instance: &Instance,
    live: &Live,
    faults: &[&Fault],
) -> (String, Vec<String>) {
    let mut lines = text.split_inclusive('\n');
    let Some(header) = lines.next() else {
        return (text.to_string(), vec![]);
    };
    let Some(column) = date_column(header) else {
        return (text.to_string(), vec![]);
    };
    let mut out = String::from(header);
    let mut removed: Vec<(usize, BTreeSet<Date>)> = vec![Default::default(); faults.len()];
    for line in lines {
        let hit = row_date(line, column).and_then(|d| {
            faults
                .iter()
                .position(|f| f.misses(&live.app, instance.report, d))
                .map(|n| (n, d))
        });
        match hit {
            Some((n, d)) => {
                removed[n].0 += 1;
                removed[n].1.insert(d);
            }
            None => out.push_str(line),
        }
    }
    let reasons = faults
        .iter()
        .zip(removed)
        .filter(|(_, (n, _))| *n > 0)
        .map(|(f, (n, days))| {
            let days: Vec<String> = days.iter().map(Date::to_string).collect();
            format!(
                "{}: {n} rows of the missing days {} removed from this file",
                f.label(),
                days.join(", ")
            )
        })
        .collect();
    (out, reasons)
}

/// The data directory's URL signing key, made on first use — inside a write transaction, so
/// that concurrent first requests agree on one key (two keys would sign URLs the other refuses).
async fn key(store: &Store) -> Result<hmac::Key> {
    let secret = match store.meta_get(KEY_META).await? {
        Some(k) => k,
        None => {
            let mut tx = store.begin().await?;
            let k = match tx.meta_get(KEY_META).await? {
                Some(k) => k,
                None => {
                    let mut b = [0u8; 32];
                    aws_lc_rs::rand::fill(&mut b).map_err(|_| anyhow::anyhow!("no randomness"))?;
                    let k = hex(&b);
                    tx.meta_set(KEY_META, &k).await?;
                    k
                }
            };
            tx.commit().await?;
            k
        }
    };
    Ok(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()))
}

fn message(segment: &str, expires: i64) -> String {
    format!("{segment}\n{expires}")
}

/// The pre-signed URL of a segment on `base`, valid until `now_ms` + [`URL_LIFETIME_MS`].
pub async fn url(store: &Store, base: &str, segment: &str, now_ms: i64) -> Result<String> {
    let expires = (now_ms + URL_LIFETIME_MS) / 1000;
    let tag = hmac::sign(&key(store).await?, message(segment, expires).as_bytes());
    Ok(format!(
        "{base}{PATH}{segment}.txt.gz?Expires={expires}&Signature={}",
        hex(tag.as_ref())
    ))
}

/// The answer to a segment download: status, content type, body, and crabapple's explanation
/// (`X-Crabapple-Reason`: what the privacy measures and injected faults did to the file).
pub struct Download {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub reason: Option<String>,
}

fn s3_error(status: u16, code: &str, message: &str, extra: &str) -> Download {
    Download {
        status,
        content_type: "application/xml",
        body: format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{extra}</Error>"
        )
        .into_bytes(),
        reason: None,
    }
}

/// Serves `GET <PATH><file>?<query>` at virtual time `now_ms`.
pub async fn download(
    store: &Store,
    file_name: &str,
    query: &[(String, String)],
    now_ms: i64,
) -> Result<Download> {
    let get = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let segment = file_name.strip_suffix(".txt.gz").unwrap_or(file_name);
    let (Some(expires), Some(sig)) = (
        get("Expires").and_then(|e| e.parse::<i64>().ok()),
        get("Signature"),
    ) else {
        return Ok(s3_error(
            403,
            "AccessDenied",
            "Query-string authentication requires the Signature and Expires parameters",
            "",
        ));
    };
    let key = key(store).await?;
    if hmac::verify(&key, message(segment, expires).as_bytes(), &hex_bytes(sig)).is_err() {
        return Ok(s3_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            "",
        ));
    }
    if now_ms / 1000 >= expires {
        let iso = |s: i64| {
            jiff::Timestamp::from_second(s)
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default()
        };
        return Ok(s3_error(
            403,
            "AccessDenied",
            "Request has expired",
            &format!(
                "<Expires>{}</Expires><ServerTime>{}</ServerTime>",
                iso(expires),
                iso(now_ms / 1000)
            ),
        ));
    }
    let no_such_key = || s3_error(404, "NoSuchKey", "The specified key does not exist.", "");
    let Some(instance) = parse_segment_id(segment) else {
        return Ok(no_such_key());
    };
    let Some(live) = lifecycle::load(store, &instance.request, now_ms).await? else {
        return Ok(no_such_key());
    };
    // A vanished instance, or an empty one (an injected fault: it has no segment).
    if !live.shows(&instance, now_ms) || live.empty_fault(&instance).is_some() {
        return Ok(no_such_key());
    }
    let f = file(store, &instance, &live).await?;
    if f.withheld.is_some() {
        return Ok(Download {
            reason: f.withheld,
            ..no_such_key()
        });
    }
    // The file is served even when the activity cannot be recorded (a full disk): the next
    // download records it.
    let today = pacific::day_of_ms(now_ms);
    if let Err(e) = lifecycle::record_download(store, &live, &instance.request, today).await {
        tracing::warn!(request = %instance.request, "recording an analytics download: {e:#}");
    }
    Ok(Download {
        status: 200,
        content_type: "application/octet-stream",
        body: f.gz,
        reason: f.reason,
    })
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}
