//! A small, bounds-checked CBOR reader (RFC 8949) for what WebAuthn sends: the attestation
//! object and the COSE public key inside authenticator data. Definite and indefinite lengths,
//! tags skipped, floats read as opaque; nesting depth and lengths are bounded, so hostile input
//! is an error, never a panic or a huge allocation.

/// A decoded CBOR item.
#[derive(Debug, Clone, PartialEq)]
pub enum Cbor {
    /// Major types 0 and 1 (a negative integer `-1 - n` is kept exactly in an `i128`).
    Int(i128),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
    Bool(bool),
    Null,
    /// `undefined`, other simple values and floats: kept only as "something".
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    #[error("CBOR data ends early")]
    Eof,
    #[error("CBOR data is malformed: {0}")]
    Malformed(&'static str),
    #[error("CBOR data is nested too deeply")]
    TooDeep,
}

const MAX_DEPTH: usize = 16;

impl Cbor {
    /// The value of `key` in a map whose keys are integers (COSE keys).
    pub fn get_int_key(&self, key: i128) -> Option<&Cbor> {
        match self {
            Cbor::Map(entries) => entries
                .iter()
                .find(|(k, _)| *k == Cbor::Int(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value of `key` in a map whose keys are text (the attestation object).
    pub fn get_text_key(&self, key: &str) -> Option<&Cbor> {
        match self {
            Cbor::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Cbor::Text(t) if t == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Cbor::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Cbor::Text(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i128> {
        match self {
            Cbor::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// Decodes the one item `data` holds; trailing bytes are an error.
pub fn decode(data: &[u8]) -> Result<Cbor, CborError> {
    let (item, used) = decode_prefix(data)?;
    if used != data.len() {
        return Err(CborError::Malformed("trailing bytes after the item"));
    }
    Ok(item)
}

/// Decodes the first item of `data` and says how many bytes it took (a COSE key is followed by
/// extensions in authenticator data).
pub fn decode_prefix(data: &[u8]) -> Result<(Cbor, usize), CborError> {
    let mut r = Reader { data, pos: 0 };
    let item = r.item(0)?;
    Ok((item, r.pos))
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// What an initial byte announced: major type and argument (`None` = indefinite length).
struct Head {
    major: u8,
    info: u8,
    arg: Option<u64>,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self.data.get(self.pos).ok_or(CborError::Eof)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&[u8], CborError> {
        let n = usize::try_from(n).map_err(|_| CborError::Eof)?;
        let end = self.pos.checked_add(n).ok_or(CborError::Eof)?;
        let s = self.data.get(self.pos..end).ok_or(CborError::Eof)?;
        self.pos = end;
        Ok(s)
    }

    fn head(&mut self) -> Result<Head, CborError> {
        let b = self.byte()?;
        let major = b >> 5;
        let info = b & 0x1f;
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24..=27 => {
                let n = 1u64 << (info - 24);
                let mut v = 0u64;
                for &x in self.take(n)? {
                    v = (v << 8) | u64::from(x);
                }
                Some(v)
            }
            31 => None,
            _ => return Err(CborError::Malformed("reserved additional information")),
        };
        Ok(Head { major, info, arg })
    }

    /// A count of items that must fit in what is left (each item takes at least one byte), so
    /// a forged length cannot make us allocate.
    fn count(&self, n: u64) -> Result<usize, CborError> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return Err(CborError::Eof);
        }
        usize::try_from(n).map_err(|_| CborError::Eof)
    }

    fn chunks(&mut self, major: u8) -> Result<Vec<u8>, CborError> {
        let mut out = Vec::new();
        loop {
            if self.data.get(self.pos) == Some(&0xff) {
                self.pos += 1;
                return Ok(out);
            }
            let h = self.head()?;
            if h.major != major {
                return Err(CborError::Malformed("a chunk of another type"));
            }
            let n = h
                .arg
                .ok_or(CborError::Malformed("nested indefinite chunk"))?;
            out.extend_from_slice(self.take(n)?);
        }
    }

    fn item(&mut self, depth: usize) -> Result<Cbor, CborError> {
        if depth > MAX_DEPTH {
            return Err(CborError::TooDeep);
        }
        let h = self.head()?;
        match (h.major, h.arg) {
            (0, Some(n)) => Ok(Cbor::Int(i128::from(n))),
            (1, Some(n)) => Ok(Cbor::Int(-1 - i128::from(n))),
            (2, Some(n)) => Ok(Cbor::Bytes(self.take(n)?.to_vec())),
            (2, None) => Ok(Cbor::Bytes(self.chunks(2)?)),
            (3, Some(n)) => String::from_utf8(self.take(n)?.to_vec())
                .map(Cbor::Text)
                .map_err(|_| CborError::Malformed("text is not UTF-8")),
            (3, None) => String::from_utf8(self.chunks(3)?)
                .map(Cbor::Text)
                .map_err(|_| CborError::Malformed("text is not UTF-8")),
            (4, Some(n)) => {
                let n = self.count(n)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.item(depth + 1)?);
                }
                Ok(Cbor::Array(v))
            }
            (4, None) => {
                let mut v = Vec::new();
                while self.data.get(self.pos) != Some(&0xff) {
                    v.push(self.item(depth + 1)?);
                }
                self.pos += 1;
                Ok(Cbor::Array(v))
            }
            (5, Some(n)) => {
                let n = self.count(n)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.item(depth + 1)?;
                    let val = self.item(depth + 1)?;
                    v.push((k, val));
                }
                Ok(Cbor::Map(v))
            }
            (5, None) => {
                let mut v = Vec::new();
                while self.data.get(self.pos) != Some(&0xff) {
                    let k = self.item(depth + 1)?;
                    let val = self.item(depth + 1)?;
                    v.push((k, val));
                }
                self.pos += 1;
                Ok(Cbor::Map(v))
            }
            // A tag: the tagged item stands for itself.
            (6, Some(_)) => self.item(depth + 1),
            (7, _) => Ok(match h.info {
                20 => Cbor::Bool(false),
                21 => Cbor::Bool(true),
                22 => Cbor::Null,
                31 => return Err(CborError::Malformed("unexpected break")),
                _ => Cbor::Other,
            }),
            _ => Err(CborError::Malformed("indefinite length on a scalar")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn rfc_8949_examples() {
        assert_eq!(decode(&[0x00]).unwrap(), Cbor::Int(0));
        assert_eq!(decode(&[0x18, 0x64]).unwrap(), Cbor::Int(100));
        assert_eq!(decode(&[0x38, 0x63]).unwrap(), Cbor::Int(-100));
        assert_eq!(decode(&[0x26]).unwrap(), Cbor::Int(-7));
        assert_eq!(
            decode(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap(),
            Cbor::Int(-18446744073709551616)
        );
        assert_eq!(
            decode(&[0x44, 1, 2, 3, 4]).unwrap(),
            Cbor::Bytes(vec![1, 2, 3, 4])
        );
        assert_eq!(
            decode(&[0x64, 0x49, 0x45, 0x54, 0x46]).unwrap(),
            Cbor::Text("IETF".into())
        );
        assert_eq!(
            decode(&[0xa2, 0x01, 0x02, 0x03, 0x04]).unwrap(),
            Cbor::Map(vec![
                (Cbor::Int(1), Cbor::Int(2)),
                (Cbor::Int(3), Cbor::Int(4))
            ])
        );
        assert_eq!(
            decode(&[0x9f, 0x01, 0x82, 0x02, 0x03, 0xff]).unwrap(),
            Cbor::Array(vec![
                Cbor::Int(1),
                Cbor::Array(vec![Cbor::Int(2), Cbor::Int(3)])
            ])
        );
        assert_eq!(
            decode(&[0x5f, 0x42, 1, 2, 0x43, 3, 4, 5, 0xff]).unwrap(),
            Cbor::Bytes(vec![1, 2, 3, 4, 5])
        );
        assert_eq!(decode(&[0xf5]).unwrap(), Cbor::Bool(true));
        assert_eq!(decode(&[0xc2, 0x41, 0x01]).unwrap(), Cbor::Bytes(vec![1]));
    }

    #[test]
    fn hostile_input_is_an_error() {
        // A map announcing 2^32 entries in 6 bytes.
        assert!(decode(&[0xba, 0xff, 0xff, 0xff, 0xff, 0x00]).is_err());
        // Bytes longer than the data.
        assert!(decode(&[0x5a, 0xff, 0xff, 0xff, 0xff]).is_err());
        // Deep nesting.
        assert_eq!(decode(&[0x81; 100]), Err(CborError::TooDeep));
        assert!(decode(&[0x01, 0x02]).is_err(), "trailing bytes");
        assert!(decode(&[0x1c]).is_err(), "reserved");
        assert!(decode(&[0x62, 0xff, 0xfe]).is_err(), "not UTF-8");
        assert!(decode(&[]).is_err());
        assert_eq!(decode_prefix(&[0x01, 0x02]).unwrap(), (Cbor::Int(1), 1));
    }
}
