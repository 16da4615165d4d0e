//! The batch upload file (seed 000 三): applications as XML, one `<Case>` per record, each field a
//! `<f k="dotted.path" t="type">value</f>` element (types: `s` string, `n` number, `b` bool, `z`
//! null, `a` empty list, `o` empty object), written and read with quick-xml. The NHI's own
//! schema (B-106) is not public; this layout is lossless for the model and easy to validate
//! record by record. The file name is `rules::hmic::batch`.

use super::model::Application;
use crate::rules::hmic::Violation;
use quick_xml::Reader;
use quick_xml::escape::escape;
use quick_xml::events::Event;
use serde_json::{Map, Value};

const RULE: &str = "batch_file_format";

fn bad(field: impl Into<String>, why: &str) -> Violation {
    Violation::invalid(field, RULE, why.to_string())
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, &'static str, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) if m.is_empty() => out.push((prefix.into(), "o", String::new())),
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(a) if a.is_empty() => out.push((prefix.into(), "a", String::new())),
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        Value::Null => out.push((prefix.into(), "z", String::new())),
        Value::Bool(b) => out.push((prefix.into(), "b", b.to_string())),
        Value::Number(n) => out.push((prefix.into(), "n", n.to_string())),
        Value::String(s) => out.push((prefix.into(), "s", s.clone())),
    }
}

/// The file of `apps` (UTF-8).
pub fn to_xml(apps: &[Application]) -> Result<String, serde_json::Error> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<HMIC>\n");
    for a in apps {
        let v = serde_json::to_value(a)?;
        let mut fields = Vec::new();
        flatten("", &v, &mut fields);
        out.push_str("<Case>\n");
        for (k, t, val) in fields {
            out.push_str(&format!(
                "<f k=\"{}\" t=\"{t}\">{}</f>\n",
                escape(&k),
                escape(&val).replace('\r', "&#13;")
            ));
        }
        out.push_str("</Case>\n");
    }
    out.push_str("</HMIC>\n");
    Ok(out)
}

fn insert(root: &mut Value, path: &[&str], leaf: Value) -> Option<()> {
    let (first, rest) = path.split_first()?;
    let is_index = |s: &str| s.parse::<usize>().ok();
    if let Some(i) = is_index(first) {
        if root.is_null() {
            *root = Value::Array(Vec::new());
        }
        let arr = root.as_array_mut()?;
        if i > arr.len() {
            return None;
        }
        if i == arr.len() {
            arr.push(Value::Null);
        }
        if rest.is_empty() {
            arr[i] = leaf;
            return Some(());
        }
        return insert(&mut arr[i], rest, leaf);
    }
    if root.is_null() {
        *root = Value::Object(Map::new());
    }
    let obj = root.as_object_mut()?;
    let slot = obj.entry(first.to_string()).or_insert(Value::Null);
    if rest.is_empty() {
        *slot = leaf;
        return Some(());
    }
    insert(slot, rest, leaf)
}

fn leaf(t: &str, text: &str) -> Option<Value> {
    Some(match t {
        "s" => Value::String(text.to_string()),
        "n" => Value::Number(text.parse::<serde_json::Number>().ok()?),
        "b" => Value::Bool(text.parse().ok()?),
        "z" => Value::Null,
        "a" => Value::Array(Vec::new()),
        "o" => Value::Object(Map::new()),
        _ => return None,
    })
}

/// Reads the file's records. A record that is not an application is refused naming it
/// (`records.<n>`); the rules are then run on every record by the receiver.
pub fn parse(xml: &str) -> Result<Vec<Application>, Violation> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut record: Option<Value> = None;
    let mut field: Option<(String, String)> = None;
    let mut text = String::new();
    let mut seen_root = false;
    loop {
        let n = out.len();
        match reader.read_event() {
            Err(_) => return Err(bad("file", "not well-formed XML")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => match e.name().as_ref() {
                "HMIC" => seen_root = true,
                "Case" => record = Some(Value::Null),
                "f" => {
                    let mut k = None;
                    let mut t = None;
                    for a in e.attributes().flatten() {
                        let v = a
                            .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                            .map_err(|_| bad(format!("records.{n}"), "bad attribute"))?
                            .into_owned();
                        match a.key.as_ref() {
                            "k" => k = Some(v),
                            "t" => t = Some(v),
                            _ => {}
                        }
                    }
                    match (k, t) {
                        (Some(k), Some(t)) => field = Some((k, t)),
                        _ => return Err(bad(format!("records.{n}"), "a field needs k and t")),
                    }
                    text.clear();
                }
                _ => return Err(bad(format!("records.{n}"), "unknown element")),
            },
            Ok(Event::Text(t)) => {
                if field.is_some() {
                    text.push_str(&t.xml10_content());
                }
            }
            Ok(Event::GeneralRef(r)) => {
                if field.is_some() {
                    let name: &str = &r;
                    let raw = format!("&{name};");
                    let s = quick_xml::escape::unescape(&raw)
                        .map_err(|_| bad(format!("records.{n}"), "bad entity"))?;
                    text.push_str(&s);
                }
            }
            Ok(Event::End(e)) => match e.name().as_ref() {
                "f" => {
                    let (k, t) = field
                        .take()
                        .ok_or_else(|| bad(format!("records.{n}"), "stray end"))?;
                    let v = leaf(&t, &text).ok_or_else(|| bad(format!("records.{n}.{k}"), "bad value"))?;
                    let rec = record
                        .as_mut()
                        .ok_or_else(|| bad(format!("records.{n}"), "a field outside a record"))?;
                    let path: Vec<&str> = k.split('.').collect();
                    insert(rec, &path, v).ok_or_else(|| bad(format!("records.{n}.{k}"), "bad path"))?;
                }
                "Case" => {
                    let rec = record
                        .take()
                        .ok_or_else(|| bad(format!("records.{n}"), "stray end"))?;
                    let app: Application = serde_json::from_value(rec)
                        .map_err(|_| bad(format!("records.{n}"), "not a complete application"))?;
                    out.push(app);
                }
                _ => {}
            },
            Ok(_) => {}
        }
    }
    if !seen_root {
        return Err(bad("file", "the root element is HMIC"));
    }
    Ok(out)
}
