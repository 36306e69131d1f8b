//! Dialect-tolerant column readers.
//!
//! One Hub's columns have different physical types per dialect (bool is numeric in SQLite,
//! tinyint in MySQL; floats are NUMERIC in PostgreSQL; JSON is JSONB in PostgreSQL) and legacy
//! databases hold NULLs where Go reads zero values. Entity decoders are written once against
//! [`RowExt`]; the three impls below absorb the differences.

use sqlx::{Row, TypeInfo, ValueRef, mysql::MySqlRow, postgres::PgRow, sqlite::SqliteRow};

use crate::StoreError;

fn decode_err(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Decode(format!("column {col}: {e}"))
}

/// Reads a column as One Hub's Go code would: NULL becomes the zero value.
pub trait RowExt {
    fn is_null(&self, col: &str) -> Result<bool, StoreError>;
    /// Integer or boolean column; NULL → 0.
    fn i64(&self, col: &str) -> Result<i64, StoreError>;
    /// Float or decimal column; NULL → 0.
    fn f64(&self, col: &str) -> Result<f64, StoreError>;
    /// Text or JSON column; NULL → "".
    fn string(&self, col: &str) -> Result<String, StoreError>;
    /// Binary column; NULL → empty.
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError>;

    fn bool(&self, col: &str) -> Result<bool, StoreError> {
        Ok(self.i64(col)? != 0)
    }
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, StoreError> {
        if self.is_null(col)? {
            Ok(None)
        } else {
            self.i64(col).map(Some)
        }
    }
    fn opt_bool(&self, col: &str) -> Result<Option<bool>, StoreError> {
        if self.is_null(col)? {
            Ok(None)
        } else {
            self.bool(col).map(Some)
        }
    }
    fn opt_string(&self, col: &str) -> Result<Option<String>, StoreError> {
        if self.is_null(col)? {
            Ok(None)
        } else {
            self.string(col).map(Some)
        }
    }
    /// A JSON column as parsed JSON; NULL or unparsable text → `None`.
    fn json(&self, col: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(match self.opt_string(col)? {
            Some(t) if !t.trim().is_empty() => serde_json::from_str(&t).ok(),
            _ => None,
        })
    }
}

impl RowExt for SqliteRow {
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
        if self.is_null(col)? {
            return Ok(Vec::new());
        }
        Ok(self.try_get_unchecked::<Vec<u8>, _>(col)?)
    }
    fn is_null(&self, col: &str) -> Result<bool, StoreError> {
        Ok(self.try_get_raw(col)?.is_null())
    }
    fn i64(&self, col: &str) -> Result<i64, StoreError> {
        if self.is_null(col)? {
            return Ok(0);
        }
        // SQLite converts text and real values to integers itself.
        Ok(self.try_get_unchecked::<i64, _>(col)?)
    }
    fn f64(&self, col: &str) -> Result<f64, StoreError> {
        if self.is_null(col)? {
            return Ok(0.0);
        }
        Ok(self.try_get_unchecked::<f64, _>(col)?)
    }
    fn string(&self, col: &str) -> Result<String, StoreError> {
        if self.is_null(col)? {
            return Ok(String::new());
        }
        Ok(self.try_get_unchecked::<String, _>(col)?)
    }
}

impl RowExt for PgRow {
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
        if self.is_null(col)? {
            return Ok(Vec::new());
        }
        Ok(self.try_get_unchecked::<Vec<u8>, _>(col)?)
    }
    fn is_null(&self, col: &str) -> Result<bool, StoreError> {
        Ok(self.try_get_raw(col)?.is_null())
    }
    fn i64(&self, col: &str) -> Result<i64, StoreError> {
        let raw = self.try_get_raw(col)?;
        if raw.is_null() {
            return Ok(0);
        }
        let ty = raw.type_info().name().to_owned();
        Ok(match ty.as_str() {
            "INT8" => self.try_get::<i64, _>(col)?,
            "INT4" => i64::from(self.try_get::<i32, _>(col)?),
            "INT2" => i64::from(self.try_get::<i16, _>(col)?),
            "BOOL" => i64::from(self.try_get::<bool, _>(col)?),
            "NUMERIC" | "FLOAT4" | "FLOAT8" => self.f64(col)? as i64,
            other => {
                return Err(decode_err(
                    col,
                    format!("expected an integer, found {other}"),
                ));
            }
        })
    }
    fn f64(&self, col: &str) -> Result<f64, StoreError> {
        let raw = self.try_get_raw(col)?;
        if raw.is_null() {
            return Ok(0.0);
        }
        let ty = raw.type_info().name().to_owned();
        Ok(match ty.as_str() {
            "FLOAT8" => self.try_get::<f64, _>(col)?,
            "FLOAT4" => f64::from(self.try_get::<f32, _>(col)?),
            "NUMERIC" => {
                let raw = self.try_get_raw(col)?;
                match raw.format() {
                    sqlx::postgres::PgValueFormat::Binary => {
                        pg_numeric_binary(raw.as_bytes().map_err(|e| decode_err(col, e))?)
                            .ok_or_else(|| decode_err(col, "bad NUMERIC"))?
                    }
                    sqlx::postgres::PgValueFormat::Text => raw
                        .as_str()
                        .map_err(|e| decode_err(col, e))?
                        .parse()
                        .map_err(|e| decode_err(col, e))?,
                }
            }
            "INT8" | "INT4" | "INT2" | "BOOL" => self.i64(col)? as f64,
            other => return Err(decode_err(col, format!("expected a number, found {other}"))),
        })
    }
    fn string(&self, col: &str) -> Result<String, StoreError> {
        let raw = self.try_get_raw(col)?;
        if raw.is_null() {
            return Ok(String::new());
        }
        let ty = raw.type_info().name().to_owned();
        Ok(match ty.as_str() {
            "JSON" | "JSONB" => self
                .try_get::<sqlx::types::Json<serde_json::Value>, _>(col)?
                .0
                .to_string(),
            "INT8" | "INT4" | "INT2" | "BOOL" => self.i64(col)?.to_string(),
            "TIMESTAMPTZ" | "TIMESTAMP" => String::new(),
            _ => self.try_get_unchecked::<String, _>(col)?,
        })
    }
}

/// Decodes PostgreSQL's binary NUMERIC: ndigits, weight, sign, dscale, then base-10000 digits.
fn pg_numeric_binary(b: &[u8]) -> Option<f64> {
    let word = |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])) };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i16;
    let sign = word(4)?;
    if sign == 0xC000 {
        return Some(f64::NAN);
    }
    let mut v = 0f64;
    for i in 0..ndigits {
        let d = f64::from(word(8 + 2 * i)?);
        v += d * 10000f64.powi(i32::from(weight) - i as i32);
    }
    Some(if sign == 0x4000 { -v } else { v })
}

impl RowExt for MySqlRow {
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
        if self.is_null(col)? {
            return Ok(Vec::new());
        }
        Ok(self.try_get_unchecked::<Vec<u8>, _>(col)?)
    }
    fn is_null(&self, col: &str) -> Result<bool, StoreError> {
        Ok(self.try_get_raw(col)?.is_null())
    }
    fn i64(&self, col: &str) -> Result<i64, StoreError> {
        let raw = self.try_get_raw(col)?;
        if raw.is_null() {
            return Ok(0);
        }
        let ty = raw.type_info().name().to_owned();
        Ok(match ty.as_str() {
            "DECIMAL" | "DOUBLE" | "FLOAT" => self.f64(col)? as i64,
            "VARCHAR" | "CHAR" | "TEXT" => self
                .string(col)?
                .trim()
                .parse()
                .map_err(|e| decode_err(col, e))?,
            _ => self.try_get_unchecked::<i64, _>(col)?,
        })
    }
    fn f64(&self, col: &str) -> Result<f64, StoreError> {
        let raw = self.try_get_raw(col)?;
        if raw.is_null() {
            return Ok(0.0);
        }
        let ty = raw.type_info().name().to_owned();
        Ok(match ty.as_str() {
            "DOUBLE" => self.try_get::<f64, _>(col)?,
            "FLOAT" => f64::from(self.try_get::<f32, _>(col)?),
            "DECIMAL" | "VARCHAR" | "CHAR" | "TEXT" => self
                .try_get_unchecked::<String, _>(col)?
                .trim()
                .parse()
                .map_err(|e| decode_err(col, e))?,
            _ => self.try_get_unchecked::<i64, _>(col)? as f64,
        })
    }
    fn string(&self, col: &str) -> Result<String, StoreError> {
        let raw = self.try_get_raw(col)?;
        if raw.is_null() {
            return Ok(String::new());
        }
        let ty = raw.type_info().name().to_owned();
        Ok(match ty.as_str() {
            "BIGINT" | "INT" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "BOOLEAN"
            | "BIGINT UNSIGNED" | "INT UNSIGNED" => {
                self.try_get_unchecked::<i64, _>(col)?.to_string()
            }
            "DATETIME" | "TIMESTAMP" | "DATE" => String::new(),
            _ => {
                let bytes = self.try_get_unchecked::<Vec<u8>, _>(col)?;
                String::from_utf8(bytes).map_err(|e| decode_err(col, e))?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::pg_numeric_binary;

    #[test]
    fn numeric_binary_decodes() {
        // 12.5 → ndigits 2, weight 0, sign +, dscale 1, digits [12, 5000]
        let b = [0, 2, 0, 0, 0, 0, 0, 1, 0, 12, 0x13, 0x88];
        assert_eq!(pg_numeric_binary(&b), Some(12.5));
        // -0.25 → ndigits 1, weight -1, sign -, digits [2500]
        let b = [0, 1, 0xFF, 0xFF, 0x40, 0, 0, 2, 0x09, 0xC4];
        assert_eq!(pg_numeric_binary(&b), Some(-0.25));
        // 0 → ndigits 0
        assert_eq!(pg_numeric_binary(&[0, 0, 0, 0, 0, 0, 0, 0]), Some(0.0));
        assert_eq!(pg_numeric_binary(&[0]), None);
    }
}
