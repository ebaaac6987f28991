//! Reading a few scalars out of a JSON body in one pass, without building the document.
//!
//! A profile reads three or four fields of every body (event type, time, id, subject). Building
//! a `serde_json::Value` for that allocates every key and string of the body, and even a map of
//! borrowed top-level values costs a hash map per level: together most of a capture's analysis
//! in the ingest benchmark. [`select`] walks the body once with serde's streaming visitor and
//! builds only the values the pointers reach. Everything else is visited without being kept:
//! not skipped with `IgnoredAny`, which checks less than parsing does (UTF-8 in strings, lone
//! surrogates, number range, nesting depth), so a body is JSON here exactly when `Value` would
//! parse it. Its answers are those of `serde_json::Value::pointer` on the whole document (a
//! property the tests check), duplicate keys included: the last occurrence wins.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The scalar at each of `pointers` (RFC 6901) as text, in order; `None` for a pointer that
/// leads nowhere or to an object, array or null. `None` as a whole when `body` is not JSON.
pub(crate) fn select(body: &[u8], pointers: &[&str]) -> Option<Vec<Option<String>>> {
    let mut found = vec![None; pointers.len()];
    let paths: Vec<Option<Vec<Cow<'_, str>>>> = pointers.iter().map(|pointer| tokens(pointer)).collect();
    let targets: Vec<Target<'_>> = paths
        .iter()
        .enumerate()
        .filter_map(|(slot, path)| {
            Some(Target {
                slot,
                rest: path.as_deref()?,
            })
        })
        .collect();
    let mut json = serde_json::Deserializer::from_slice(body);
    Node {
        targets: &targets,
        found: &mut found,
    }
    .deserialize(&mut json)
    .ok()?;
    json.end().ok()?;
    Some(found)
}

/// A pointer's reference tokens, unescaped (`~1` is `/`, `~0` is `~`); `None` if it is not a
/// pointer (neither empty nor starting with `/`).
fn tokens(pointer: &str) -> Option<Vec<Cow<'_, str>>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let tokens = pointer
        .strip_prefix('/')?
        .split('/')
        .map(|token| match token.contains('~') {
            true => Cow::Owned(token.replace("~1", "/").replace("~0", "~")),
            false => Cow::Borrowed(token),
        });
    Some(tokens.collect())
}

/// A JSON scalar as text; objects, arrays and null are not facts.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A pointer being followed: where its answer goes and the tokens left of it (none at its
/// value).
#[derive(Clone, Copy)]
struct Target<'p> {
    slot: usize,
    rest: &'p [Cow<'p, str>],
}

/// The array index `token` names, if it is one as RFC 6901 writes them (decimal, no sign, no
/// leading zeros), which is how `Value::pointer` reads them.
fn index_of(token: &str) -> Option<usize> {
    let digits = token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    digits.then(|| token.parse().ok()).flatten()
}

/// One value of the document and the pointers that pass through it.
struct Node<'t, 'p> {
    targets: &'t [Target<'p>],
    found: &'t mut [Option<String>],
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.targets.iter().any(|target| target.rest.is_empty()) {
            // A pointer ends here: build this value (a scalar, normally) and answer every pointer
            // through it from the built value.
            let value = Value::deserialize(deserializer)?;
            for target in self.targets {
                let mut at = Some(&value);
                for token in target.rest {
                    at = match at {
                        Some(Value::Object(map)) => map.get(token.as_ref()),
                        Some(Value::Array(list)) => index_of(token).and_then(|index| list.get(index)),
                        _ => None,
                    };
                }
                self.found[target.slot] = at.and_then(scalar);
            }
            return Ok(());
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut next: Vec<Target<'_>> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            next.clear();
            next.extend(self.targets.iter().filter_map(|target| {
                let (token, rest) = target.rest.split_first()?;
                (*token == key).then_some(Target {
                    slot: target.slot,
                    rest,
                })
            }));
            if next.is_empty() {
                map.next_value_seed(Node {
                    targets: &[],
                    found: &mut *self.found,
                })?;
                continue;
            }
            // A repeated key replaces what an earlier occurrence answered, as in a parsed map.
            for target in &next {
                self.found[target.slot] = None;
            }
            map.next_value_seed(Node {
                targets: &next,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut next: Vec<Target<'_>> = Vec::new();
        let mut index = 0usize;
        loop {
            next.clear();
            next.extend(self.targets.iter().filter_map(|target| {
                let (token, rest) = target.rest.split_first()?;
                (index_of(token) == Some(index)).then_some(Target {
                    slot: target.slot,
                    rest,
                })
            }));
            let more = seq
                .next_element_seed(Node {
                    targets: &next,
                    found: &mut *self.found,
                })?
                .is_some();
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An object key, borrowed from the body unless it had to be unescaped.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `select` answers what `Value::pointer` on the whole document answers, for every pointer.
    #[test]
    fn agrees_with_value_pointer() {
        let literal: &[&[u8]] = &[
            br#"{"type":"a.b","created":1700000000,"object":{"type":"engine","id":"eng_1"},"list":[{"x":1},{"x":"two"}]}"#,
            br#"{"esc\u0061ped":{"k":"v"},"o":{"n\u0065sted":{"deep":true}},"a/b":{"m~n":5},"a":{"a":{"b":"twice"}}}"#,
            br#"[{"type":"top-level array"}]"#,
            br#"{"s":"caf\u00e9 \"q\"","n":-1.5e3,"nul":null,"t":true,"big":18446744073709551616}"#,
            br#"{"type":"first","type":"second","object":{"id":1},"object":2,"list":[0],"list":{"1":{"x":"map"}}}"#,
            br#"{"list":["a","b","c","d","e","f","g","h","i","j","k"],"0":"zero"}"#,
            br#"  "just a string"  "#,
            b"not json",
            br#"{"type":"truncated""#,
            // What skipping without parsing would let through: each is not JSON to `Value`.
            b"{\"type\":\"x\",\"pad\":\"\xff\"}",
            br#"{"type":"x","pad":"\ud800"}"#,
            br#"{"type":"x","pad":1e999}"#,
            br#"{"type":"x","pad":[1,{"deep":[-0.0,1E+2,true,null,"\u00e9\ud83c\udf89"]}]}"#,
        ];
        let mut bodies: Vec<Vec<u8>> = literal.iter().map(|body| body.to_vec()).collect();
        // Nesting past serde_json's limit (128) is not JSON to `Value`; within it, it is.
        for depth in [100, 200] {
            let mut body = r#"{"type":"nested","pad":"#.to_owned();
            body.push_str(&"[".repeat(depth));
            body.push_str(&"]".repeat(depth));
            body.push('}');
            bodies.push(body.into_bytes());
        }
        let pointers = [
            "",
            "/type",
            "/created",
            "/object/id",
            "/object",
            "/list/1/x",
            "/list/0/x",
            "/list/9/x",
            "/list/10",
            "/list/01",
            "/list/+1",
            "/list/-",
            "/escaped/k",
            "/o/nested/deep",
            "/a~1b/m~0n",
            "/a/a/b",
            "/0/type",
            "/0",
            "/s",
            "/n",
            "/big",
            "/nul",
            "/t",
            "/missing",
            "/type/deeper",
            "no-slash",
            "/",
        ];
        // All at once, then without "" (which builds the whole document and so checks it all),
        // then one at a time.
        let mut sets: Vec<Vec<&str>> = vec![pointers.to_vec(), pointers[1..].to_vec()];
        sets.extend(pointers.iter().map(|pointer| vec![*pointer]));
        for body in &bodies {
            let body = body.as_slice();
            let whole: Option<Value> = serde_json::from_slice(body).ok();
            let text = String::from_utf8_lossy(body);
            for set in &sets {
                let selected = select(body, set);
                assert_eq!(selected.is_some(), whole.is_some(), "{set:?} in {text}");
                let (Some(whole), Some(selected)) = (&whole, selected) else {
                    continue;
                };
                for (pointer, got) in set.iter().zip(selected) {
                    let expected = whole.pointer(pointer).and_then(scalar);
                    assert_eq!(got, expected, "{pointer:?} in {text}");
                }
            }
        }
    }

    /// The same pointer twice, and pointers through one another, each get their answer.
    #[test]
    fn overlapping_pointers() {
        let body = br#"{"object":{"id":"o_1","kind":"k"},"type":"t"}"#;
        let got = select(body, &["/object/id", "/object", "/object/id", "/type"]);
        assert_eq!(
            got,
            Some(vec![
                Some("o_1".into()),
                None,
                Some("o_1".into()),
                Some("t".into())
            ])
        );
    }
}
