//! `JSON.stringify(JSON.parse(body))`, byte for byte as JavaScript (node) produces it: the form
//! a receiver written from OptiView's and Dyte's documentation hashes.

/// What `JSON.stringify(JSON.parse(text))` gives in node for `body` read as UTF-8 (invalid
/// sequences replaced as node's `Buffer#toString` does, a leading BOM stripped as body-parser
/// does), or `None` when `JSON.parse` would throw.
pub fn stringify(body: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_json::to_vec(&value).ok()
}
