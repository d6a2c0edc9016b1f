//! The ONE request → session step of both endpoints: the user from the
//! `authorization` header (or, with auth off, `X-Trino-User`), then the
//! client session carried by Trino's request headers (`X-Trino-Catalog`,
//! `-Schema`, `-Time-Zone`, `-Session`, `-Prepared-Statement`,
//! `-Transaction-Id`, `-Source`, else `User-Agent`): HTTP headers on the
//! Trino protocol, gRPC metadata on Flight SQL (ADBC sends them with
//! `adbc.flight.sql.rpc.call_header.<name>`). Headers Contango has no use for
//! (client info and tags, roles, extra credentials, capabilities) are accepted
//! and ignored; none is ever logged.

use axum::http::HeaderMap;
use contango_common::Session;
use contango_common::error::{ContangoError, Result};

use crate::app::App;
use crate::auth::{ANONYMOUS, Caller};

/// A request's session. The outer error is a failed authentication; the
/// inner result says whether the session headers were valid (the Trino
/// protocol reports a bad header as the query's error, Flight SQL refuses
/// the call).
pub fn request_session(
    app: &App,
    headers: &HeaderMap,
    caller: &Caller,
) -> Result<(Session, Result<()>)> {
    let user = request_user(app, headers, caller)?;
    let mut session = app.new_session(&user);
    let applied = apply_headers(&mut session, headers);
    if session.source.is_none() {
        session.source = headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
    }
    Ok((session, applied))
}

/// The user a request speaks for: from its `authorization` header (checked
/// against `caller`'s transport), or with auth off and no such header from
/// `X-Trino-User`. A header that is not text counts as absent (refused when
/// auth is on).
pub fn request_user(app: &App, headers: &HeaderMap, caller: &Caller) -> Result<String> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    if !app.auth.enabled() && authorization.is_none() {
        return Ok(single(headers, "x-trino-user")
            .ok()
            .flatten()
            .unwrap_or_else(|| ANONYMOUS.to_string()));
    }
    app.auth.authorize(authorization, caller)
}

/// Applies the request headers to `session`.
pub fn apply_headers(session: &mut Session, headers: &HeaderMap) -> Result<()> {
    if let Some(c) = single(headers, "x-trino-catalog")? {
        session.catalog = c;
    }
    if let Some(s) = single(headers, "x-trino-schema")? {
        session.schema = s;
    }
    if let Some(source) = single(headers, "x-trino-source")? {
        session.source = Some(source);
    }
    if let Some(zone) = single(headers, "x-trino-time-zone")? {
        zone.parse::<datafusion::arrow::array::timezone::Tz>()
            .map_err(|_| ContangoError::invalid(format!("Time zone not supported: {zone}")))?;
        session.time_zone = zone;
    }
    for (name, value) in pairs(headers, "x-trino-session")? {
        session.properties.insert(name, value);
    }
    for (name, sql) in pairs(headers, "x-trino-prepared-statement")? {
        session.prepared.insert(name, sql);
    }
    session.transaction_id =
        single(headers, "x-trino-transaction-id")?.filter(|t| !t.eq_ignore_ascii_case("NONE"));
    Ok(())
}

/// A header's value as text (trimmed; absent or empty → `None`).
fn single(headers: &HeaderMap, name: &str) -> Result<Option<String>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| ContangoError::invalid(format!("Header {name} is not ASCII text")))?
                .trim();
            Ok((!v.is_empty()).then(|| v.to_string()))
        }
    }
}

/// `name=value` items of every occurrence of a header (comma-joined or
/// repeated), values URL-decoded.
fn pairs(headers: &HeaderMap, name: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for value in headers.get_all(name) {
        let value = value
            .to_str()
            .map_err(|_| ContangoError::invalid(format!("Header {name} is not ASCII text")))?;
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                ContangoError::invalid(format!("Invalid {name} header: expected name=value"))
            })?;
            let k = decode(k.trim(), name)?;
            if k.is_empty() {
                return Err(ContangoError::invalid(format!(
                    "Invalid {name} header: empty name"
                )));
            }
            out.push((k, decode(v.trim(), name)?));
        }
    }
    Ok(out)
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space), as Trino's
/// server decodes these headers; malformed escapes and non-UTF-8 are errors.
fn decode(s: &str, header: &str) -> Result<String> {
    let bad = || ContangoError::invalid(format!("Invalid {header} header: bad URL encoding"));
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // Exactly two hex digits (from_str_radix alone would take `+f`).
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let digit = |b: u8| (b as char).to_digit(16).ok_or_else(bad);
                out.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(items: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in items {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn session_headers_are_decoded() {
        let mut s = Session::new("u", "iceberg", "default");
        apply_headers(
            &mut s,
            &headers(&[
                ("x-trino-catalog", "lake"),
                ("x-trino-schema", "raw"),
                ("x-trino-time-zone", "America/New_York"),
                ("x-trino-session", "batch_size=100, prefer_hash_join=false"),
                ("x-trino-session", "a%2Cb=x%3Dy%20z"),
                (
                    "x-trino-prepared-statement",
                    "st1=SELECT+%3F+FROM+t,st2=SELECT+1",
                ),
                ("x-trino-transaction-id", "NONE"),
                ("x-trino-client-tags", "a,b"),
            ]),
        )
        .unwrap();
        assert_eq!((s.catalog.as_str(), s.schema.as_str()), ("lake", "raw"));
        assert_eq!(s.time_zone, "America/New_York");
        assert_eq!(s.properties["batch_size"], "100");
        assert_eq!(s.properties["prefer_hash_join"], "false");
        assert_eq!(s.properties["a,b"], "x=y z");
        assert_eq!(s.prepared["st1"], "SELECT ? FROM t");
        assert_eq!(s.transaction_id, None);
    }

    #[test]
    fn injected_and_malformed_values_are_contained() {
        // CR LF decoded from a value stays inside the value; it never becomes a header.
        let mut s = Session::new("u", "c", "s");
        apply_headers(
            &mut s,
            &headers(&[("x-trino-session", "x=1%0D%0AX-Evil%3A%201")]),
        )
        .unwrap();
        assert_eq!(s.properties["x"], "1\r\nX-Evil: 1");
        for bad in [
            "x=%zz", "x=%e9", "novalue", "=1", "x=%+f", "x=%-1", "x=%2", "x=%é",
        ] {
            let mut s = Session::new("u", "c", "s");
            let e = apply_headers(&mut s, &headers(&[("x-trino-session", bad)])).unwrap_err();
            assert!(
                e.message().contains("X-Trino-Session") || e.message().contains("x-trino-session"),
                "{}",
                e.message()
            );
        }
        let mut s = Session::new("u", "c", "s");
        assert!(apply_headers(&mut s, &headers(&[("x-trino-time-zone", "Mars/Base")])).is_err());
    }
}
