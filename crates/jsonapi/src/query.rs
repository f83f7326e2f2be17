//! Query parameters, checked against the operation's declared parameters (Apple's
//! PARAMETER_ERROR.ILLEGAL / INVALID / REQUIRED, apple-semantics.md §1.5) and parsed into what the
//! engine needs: filters, sort, paging, include, fields.

use crate::error::AscError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crabapple_spec::{Operation, Param};
use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct Query {
    /// `filter[name]` → values (comma list split).
    pub filters: Vec<(String, Vec<String>)>,
    pub exists: Vec<(String, bool)>,
    /// `(field, descending)`.
    pub sort: Vec<(String, bool)>,
    pub limit: Option<i64>,
    /// Maximum `limit` the operation declares.
    pub max_limit: i64,
    /// Offset decoded from `cursor`.
    pub offset: i64,
    pub include: Vec<String>,
    pub fields: HashMap<String, Vec<String>>,
    pub limit_rel: HashMap<String, i64>,
    /// Every other declared parameter, as given.
    pub other: Vec<(String, String)>,
}

/// Apple's cursors are opaque; crabapple's decode to `{"offset":"N"}` like Apple's do.
pub fn encode_cursor(offset: i64) -> String {
    STANDARD
        .encode(format!("{{\"offset\":\"{offset}\"}}"))
        .trim_end_matches('=')
        .to_string()
}

pub fn decode_cursor(c: &str) -> Option<i64> {
    let mut s = c.to_string();
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    let bytes = STANDARD.decode(s).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let off = v.get("offset")?;
    off.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| off.as_i64())
        .filter(|n| *n >= 0)
}

fn split(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn check_values(p: &Param, values: &[String]) -> Result<(), AscError> {
    if let Some(allowed) = p.enum_values() {
        for v in values {
            if !allowed.contains(&v.as_str()) {
                let what = if p.name.starts_with("filter[") {
                    "filter value"
                } else if p.name.starts_with("fields[") {
                    "field name"
                } else if p.name == "include" {
                    "relationship name"
                } else if p.name == "sort" {
                    "sort value"
                } else {
                    "value"
                };
                return Err(AscError::parameter_invalid(
                    &p.name,
                    format!(
                        "'{v}' is not a valid {what}. Expected one of: {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
    match p.scalar_type() {
        "integer" => {
            for v in values {
                let n: i64 = v.parse().map_err(|_| {
                    AscError::parameter_invalid(&p.name, format!("'{v}' is not a valid integer"))
                })?;
                if let Some(max) = p.maximum()
                    && n > max
                {
                    return Err(AscError::parameter_invalid(
                        &p.name,
                        format!(
                            "'{n}' is not a valid value for '{}'. The maximum is {max}",
                            p.name
                        ),
                    ));
                }
                if n < 1 && (p.name == "limit" || p.name.starts_with("limit[")) {
                    return Err(AscError::parameter_invalid(
                        &p.name,
                        format!(
                            "'{n}' is not a valid value for '{}'. The minimum is 1",
                            p.name
                        ),
                    ));
                }
            }
        }
        "boolean" => {
            for v in values {
                if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                    return Err(AscError::parameter_invalid(
                        &p.name,
                        format!("'{v}' is not a valid boolean value"),
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Parses the (percent-decoded) query pairs for `op`.
pub fn parse(op: &Operation, pairs: &[(String, String)]) -> Result<Query, AscError> {
    let mut q = Query {
        max_limit: 200,
        ..Default::default()
    };
    let paged = op.params.iter().any(|p| p.name == "limit");
    for (name, value) in pairs {
        if name == "cursor" && paged {
            q.offset = decode_cursor(value).ok_or_else(|| {
                AscError::parameter_invalid("cursor", format!("'{value}' is not a valid cursor"))
            })?;
            continue;
        }
        let Some(p) = op.params.iter().find(|p| &p.name == name) else {
            return Err(AscError::parameter_illegal(name));
        };
        let values = if p.is_array() {
            split(value)
        } else {
            vec![value.clone()]
        };
        check_values(p, &values)?;
        if let Some(inner) = name
            .strip_prefix("filter[")
            .and_then(|s| s.strip_suffix(']'))
        {
            q.filters.push((inner.to_string(), values));
        } else if let Some(inner) = name
            .strip_prefix("exists[")
            .and_then(|s| s.strip_suffix(']'))
        {
            q.exists
                .push((inner.to_string(), value.eq_ignore_ascii_case("true")));
        } else if let Some(inner) = name
            .strip_prefix("fields[")
            .and_then(|s| s.strip_suffix(']'))
        {
            q.fields.insert(inner.to_string(), values);
        } else if let Some(inner) = name
            .strip_prefix("limit[")
            .and_then(|s| s.strip_suffix(']'))
        {
            q.limit_rel
                .insert(inner.to_string(), values[0].parse().unwrap_or(10));
        } else if name == "limit" {
            q.limit = values[0].parse().ok();
            q.max_limit = p.maximum().unwrap_or(200);
        } else if name == "include" {
            q.include = values;
        } else if name == "sort" {
            q.sort = values
                .into_iter()
                .map(|s| match s.strip_prefix('-') {
                    Some(f) => (f.to_string(), true),
                    None => (s.trim_start_matches('+').to_string(), false),
                })
                .collect();
        } else {
            q.other.push((name.clone(), value.clone()));
        }
    }
    if let Some(p) = op.params.iter().find(|p| p.name == "limit") {
        q.max_limit = p.maximum().unwrap_or(200);
    }
    for p in op.params.iter().filter(|p| p.required) {
        if !pairs.iter().any(|(n, _)| n == &p.name) {
            return Err(AscError::parameter_required(&p.name));
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_like_apples_offset_cursor() {
        let c = encode_cursor(50);
        assert_eq!(decode_cursor(&c), Some(50));
        assert_eq!(decode_cursor("not a cursor"), None);
    }
}
