//! Loading the index and the vector files; small JSON helpers.

use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors")
}

pub struct Index {
    pub vectors: Vec<Vector>,
}

pub fn load_index() -> Index {
    let text = std::fs::read_to_string(data_dir().join("index.json")).expect("read index.json");
    let json: Value = serde_json::from_str(&text).expect("parse index.json");
    let all = json["vectors"].as_array().expect("vectors array").clone();
    Index {
        vectors: all.into_iter().map(Vector).collect(),
    }
}

impl Index {
    /// The entry whose `file` or `id` is `key`.
    pub fn find(&self, key: &str) -> Result<&Vector, String> {
        self.vectors
            .iter()
            .find(|v| v.0["file"].as_str() == Some(key) || v.0["id"].as_str() == Some(key))
            .ok_or_else(|| format!("vector {key} not in the index"))
    }
}

pub fn read_file(rel: &str) -> Result<Vec<u8>, String> {
    std::fs::read(data_dir().join(rel)).map_err(|e| format!("read {rel}: {e}"))
}

pub struct Vector(pub Value);

impl Vector {
    pub fn id(&self) -> &str {
        self.0["id"].as_str().unwrap_or("?")
    }
    pub fn str(&self, key: &str) -> &str {
        self.0[key].as_str().unwrap_or("")
    }
    pub fn fields(&self) -> &Value {
        &self.0["fields"]
    }
    pub fn expect(&self) -> &Value {
        &self.0["expect"]
    }
    pub fn valid(&self) -> bool {
        self.0["valid"].as_bool() == Some(true)
    }
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        read_file(self.0["file"].as_str().ok_or("vector has no file")?)
    }

    /// Checks size and sha256 of the vector's file, if it has one.
    pub fn verify_file(&self) -> Result<(), String> {
        if self.0["file"].is_null() {
            return Ok(());
        }
        let data = self.bytes()?;
        if Some(data.len() as u64) != self.0["size"].as_u64() {
            return Err(format!(
                "file size {} != index size {}",
                data.len(),
                self.0["size"]
            ));
        }
        let digest: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if Some(digest.as_str()) != self.0["sha256"].as_str() {
            return Err("sha256 mismatch".into());
        }
        Ok(())
    }
}

pub fn u64_of(v: &Value, key: &str) -> Result<u64, String> {
    v[key]
        .as_u64()
        .ok_or_else(|| format!("field {key} missing or not a u64 in {v}"))
}

pub fn u32_of(v: &Value, key: &str) -> Result<u32, String> {
    u64_of(v, key).and_then(|x| u32::try_from(x).map_err(|_| format!("field {key} too large")))
}

pub fn u16_of(v: &Value, key: &str) -> Result<u16, String> {
    u64_of(v, key).and_then(|x| u16::try_from(x).map_err(|_| format!("field {key} too large")))
}

/// A JSON string field as bytes (absent means empty).
pub fn bytes_of(v: &Value, key: &str) -> Vec<u8> {
    v[key].as_str().unwrap_or("").as_bytes().to_vec()
}

pub fn hex(s: &str) -> Result<Vec<u8>, String> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// Fails unless every key of `expected` is present in `actual` with an
/// equal value (recursively for objects; arrays must match element-wise).
pub fn assert_subset(path: &str, actual: &Value, expected: &Value) -> Result<(), String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .ok_or_else(|| format!("{path}.{k}: missing in decoded value"))?;
                assert_subset(&format!("{path}.{k}"), av, ev)?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(e)) => {
            if a.len() != e.len() {
                return Err(format!(
                    "{path}: {} elements, expected {}",
                    a.len(),
                    e.len()
                ));
            }
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                assert_subset(&format!("{path}[{i}]"), av, ev)?;
            }
            Ok(())
        }
        (a, e) if a == e => Ok(()),
        (a, e) => Err(format!("{path}: decoded {a}, expected {e}")),
    }
}

pub fn same_bytes(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    Err(format!(
        "{what}: {} bytes differ from the {} expected bytes (first difference at byte {at})",
        got.len(),
        want.len()
    ))
}

pub fn lossy(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}
