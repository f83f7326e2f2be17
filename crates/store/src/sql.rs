//! The few places where SQL dialects differ. SQLite today; PostgreSQL would answer these with
//! `attributes->>'name'` / `jsonb_array_elements_text`.

/// SQL expression reading attribute `name` of the resource aliased `alias`.
/// `name` comes from the manifest (alphanumeric); it is still checked before use.
pub(crate) fn json_attr(alias: &str, name: &str) -> String {
    format!("json_extract({alias}.attributes, '$.\"{}\"')", safe(name))
}

/// SQL table expression of the elements of array attribute `name` (column `value`).
pub(crate) fn json_elements(alias: &str, name: &str) -> String {
    format!("json_each({alias}.attributes, '$.\"{}\"')", safe(name))
}

fn safe(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}
