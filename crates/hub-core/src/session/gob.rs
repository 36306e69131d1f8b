//! The subset of Go's `encoding/gob` that One Hub's session cookie uses (admin-API contract
//! §8.3): one `map[interface{}]interface{}` whose keys are strings and whose values are Go
//! `string`, `int` or `bool`.
//!
//! The writer emits exactly what Go's encoder emits for such a map (the type definition, then
//! the value). The reader is tolerant where Go is (it skips every type-definition message and
//! takes entries in any order) and strict everywhere else: every length is checked against
//! what is left, any other interface type is refused, and no input makes it panic.

use super::{SessionMap, Value};

/// Go's first user-defined type id, which the session map gets.
const MAP_TYPE_ID: i64 = 65;

/// The type-definition message Go sends before the first map value: length 14, type id −65,
/// `wireType{MapT: &mapType{CommonType{Id: 65}, Key: interface, Elem: interface}}`.
const MAP_TYPE_DEFINITION: [u8; 15] = [
    0x0e, 0xff, 0x81, 0x04, 0x01, 0x02, 0xff, 0x82, 0x00, 0x01, 0x10, 0x01, 0x10, 0x00, 0x00,
];

/// Go's predefined type ids of the concrete types a session value may have.
const BOOL_ID: i64 = 1;
const INT_ID: i64 = 2;
const STRING_ID: i64 = 6;

/// Why a payload is not a session map we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GobError {
    #[error("gob data ends early")]
    Truncated,
    #[error("gob integer longer than 8 bytes")]
    BadInteger,
    #[error("no value message in the gob data")]
    NoValue,
    #[error("the gob value is not a singleton")]
    NotSingleton,
    #[error("a gob length does not fit the data")]
    BadLength,
    #[error("gob interface type {0:?} is not string, int or bool")]
    UnsupportedType(String),
    #[error("gob interface type id does not match its name")]
    TypeIdMismatch,
    #[error("a nil interface in the session map")]
    NilInterface,
    #[error("a session map key that is not a string")]
    KeyNotString,
    #[error("a gob string that is not UTF-8")]
    NotUtf8,
    #[error("extra bytes inside a gob message")]
    TrailingBytes,
}

// ---- writer ----

fn put_uint(out: &mut Vec<u8>, u: u64) {
    if u < 0x80 {
        out.push(u as u8);
        return;
    }
    let bytes = u.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let n = bytes.len() - skip;
    // 256 − n as one byte: the two's complement of the byte count.
    out.push((n as u8).wrapping_neg());
    out.extend_from_slice(bytes.get(skip..).unwrap_or_default());
}

fn put_int(out: &mut Vec<u8>, i: i64) {
    let u = if i < 0 {
        ((!i as u64) << 1) | 1
    } else {
        (i as u64) << 1
    };
    put_uint(out, u);
}

fn put_message(out: &mut Vec<u8>, body: &[u8]) {
    put_uint(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn put_interface(out: &mut Vec<u8>, v: &Value) {
    let (name, id) = match v {
        Value::Str(_) => ("string", STRING_ID),
        Value::Int(_) => ("int", INT_ID),
        Value::Bool(_) => ("bool", BOOL_ID),
    };
    put_uint(out, name.len() as u64);
    out.extend_from_slice(name.as_bytes());
    put_int(out, id);
    // The value is its own message: the singleton field delta 0, then the encoded value.
    let mut body = vec![0u8];
    match v {
        Value::Str(s) => {
            put_uint(&mut body, s.len() as u64);
            body.extend_from_slice(s.as_bytes());
        }
        Value::Int(i) => put_int(&mut body, *i),
        Value::Bool(b) => put_uint(&mut body, u64::from(*b)),
    }
    put_message(out, &body);
}

/// The gob encoding of `map`, entries in the map's order (Go's order is random; readers do
/// not depend on it).
pub fn encode(map: &SessionMap) -> Vec<u8> {
    let mut body = Vec::new();
    put_int(&mut body, MAP_TYPE_ID);
    body.push(0); // singleton field delta
    put_uint(&mut body, map.len() as u64);
    for (k, v) in map.iter() {
        put_interface(&mut body, &Value::Str(k.to_owned()));
        put_interface(&mut body, v);
    }
    let mut out = MAP_TYPE_DEFINITION.to_vec();
    put_message(&mut out, &body);
    out
}

// ---- reader ----

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, GobError> {
        let (&b, rest) = self.buf.split_first().ok_or(GobError::Truncated)?;
        self.buf = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], GobError> {
        if n > self.buf.len() {
            return Err(GobError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn uint(&mut self) -> Result<u64, GobError> {
        let b = self.byte()?;
        if b < 0x80 {
            return Ok(u64::from(b));
        }
        let n = usize::from(b.wrapping_neg());
        if n > 8 {
            return Err(GobError::BadInteger);
        }
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn int(&mut self) -> Result<i64, GobError> {
        let u = self.uint()?;
        Ok(if u & 1 == 1 {
            !(u >> 1) as i64
        } else {
            (u >> 1) as i64
        })
    }

    /// A length that must fit in what is left.
    fn len(&mut self) -> Result<usize, GobError> {
        let n = usize::try_from(self.uint()?).map_err(|_| GobError::BadLength)?;
        if n > self.buf.len() {
            return Err(GobError::BadLength);
        }
        Ok(n)
    }

    fn done(&self) -> Result<(), GobError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(GobError::TrailingBytes)
        }
    }

    fn interface(&mut self) -> Result<Value, GobError> {
        let n = self.len()?;
        let name = self.take(n)?;
        if name.is_empty() {
            return Err(GobError::NilInterface);
        }
        let expected = match name {
            b"string" => STRING_ID,
            b"int" => INT_ID,
            b"bool" => BOOL_ID,
            other => {
                return Err(GobError::UnsupportedType(
                    String::from_utf8_lossy(other).into_owned(),
                ));
            }
        };
        if self.int()? != expected {
            return Err(GobError::TypeIdMismatch);
        }
        let n = self.len()?;
        let mut m = Reader { buf: self.take(n)? };
        if m.uint()? != 0 {
            return Err(GobError::NotSingleton);
        }
        let v = match expected {
            STRING_ID => {
                let n = m.len()?;
                let s = std::str::from_utf8(m.take(n)?).map_err(|_| GobError::NotUtf8)?;
                Value::Str(s.to_owned())
            }
            INT_ID => Value::Int(m.int()?),
            _ => Value::Bool(m.uint()? != 0),
        };
        m.done()?;
        Ok(v)
    }
}

/// Decodes a session map: skips type-definition messages (negative type id), decodes the
/// first value message. Bytes after it are ignored, as Go's decoder leaves them unread.
pub fn decode(data: &[u8]) -> Result<SessionMap, GobError> {
    let mut r = Reader { buf: data };
    loop {
        if r.buf.is_empty() {
            return Err(GobError::NoValue);
        }
        let n = r.len()?;
        let mut m = Reader { buf: r.take(n)? };
        let id = m.int()?;
        if id < 0 {
            continue;
        }
        if id == 0 {
            return Err(GobError::NoValue);
        }
        if m.uint()? != 0 {
            return Err(GobError::NotSingleton);
        }
        let count = m.uint()?;
        // Every entry takes at least two bytes; a larger count cannot be honest.
        if count > m.buf.len() as u64 {
            return Err(GobError::BadLength);
        }
        let mut map = SessionMap::default();
        for _ in 0..count {
            let Value::Str(key) = m.interface()? else {
                return Err(GobError::KeyNotString);
            };
            let value = m.interface()?;
            map.set(&key, value);
        }
        m.done()?;
        return Ok(map);
    }
}
