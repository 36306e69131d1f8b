//! `multipart/form-data` bodies (image edits and variations, transcriptions, translations):
//! parsed once for the text fields routing and billing read, forwarded byte for byte when the
//! model is not renamed, rebuilt with every part kept (only `model` replaced) when it is.

use bytes::Bytes;

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// A parsed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub parts: Vec<Part>,
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
            .filter(|b| !b.is_empty())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

/// A header parameter (`name="x"`) of a `Content-Disposition` value.
fn disposition_param(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// Parses a form body; the message says what is malformed.
pub fn parse(content_type: &str, body: &Bytes) -> Result<Form, String> {
    let b =
        boundary(content_type).ok_or("the request must be multipart/form-data with a boundary")?;
    let delim = format!("--{b}").into_bytes();
    let mut parts = Vec::new();
    let mut pos = find(body, &delim, 0).ok_or("the multipart body has no boundary line")?;
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            break;
        }
        // Past the CRLF after the boundary line.
        pos = find(body, b"\r\n", pos).ok_or("truncated multipart body")? + 2;
        let head_end = find(body, b"\r\n\r\n", pos).ok_or("a multipart part has no header end")?;
        let head = String::from_utf8_lossy(&body[pos..head_end]);
        let mut name = None;
        let mut filename = None;
        let mut ctype = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                name = disposition_param(v, "name");
                filename = disposition_param(v, "filename");
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                ctype = Some(v.trim().to_owned());
            }
        }
        let data_start = head_end + 4;
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(&delim);
        let data_end =
            find(body, &closing, data_start).ok_or("a multipart part is not terminated")?;
        parts.push(Part {
            name: name.ok_or("a multipart part has no name")?,
            filename,
            content_type: ctype,
            data: body.slice(data_start..data_end),
        });
        pos = data_end + 2;
    }
    Ok(Form { parts })
}

impl Form {
    /// The first text (non-file) field of that name.
    pub fn text(&self, name: &str) -> Option<String> {
        self.parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
    }

    /// Whether a file part of that name is present.
    pub fn has_file(&self, name: &str) -> bool {
        self.parts
            .iter()
            .any(|p| p.name == name && p.filename.is_some())
    }

    /// The form encoded again, `model` set to `model` (every other part as received); returns the
    /// body and its content type.
    pub fn encode_with_model(&self, model: &str) -> (Vec<u8>, String) {
        let boundary = format!(
            "onehub{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let mut out = Vec::new();
        let mut wrote_model = false;
        for p in &self.parts {
            let data: &[u8] = if p.name == "model" && p.filename.is_none() {
                if wrote_model {
                    continue;
                }
                wrote_model = true;
                model.as_bytes()
            } else {
                &p.data
            };
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut disp = format!(
                "Content-Disposition: form-data; name=\"{}\"",
                p.name.replace('"', "%22")
            );
            if let Some(f) = &p.filename {
                disp.push_str(&format!("; filename=\"{}\"", f.replace('"', "%22")));
            }
            out.extend_from_slice(disp.as_bytes());
            out.extend_from_slice(b"\r\n");
            if let Some(ct) = &p.content_type {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        if !wrote_model {
            out.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n"
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (out, format!("multipart/form-data; boundary={boundary}"))
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn parses_and_rebuilds() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n\x00\x01\r\n\x02\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nword\r\n--XyZ--\r\n",
        );
        let f = parse("multipart/form-data; boundary=XyZ", &body).unwrap();
        assert_eq!(f.parts.len(), 3);
        assert_eq!(f.text("model").as_deref(), Some("whisper-1"));
        assert!(f.has_file("file"));
        assert_eq!(&f.parts[1].data[..], b"\x00\x01\r\n\x02");
        let (again, ct) = f.encode_with_model("whisper-large");
        let g = parse(&ct, &Bytes::from(again)).unwrap();
        assert_eq!(g.text("model").as_deref(), Some("whisper-large"));
        assert_eq!(g.parts[1], f.parts[1]);
        assert_eq!(g.text("timestamp_granularities[]").as_deref(), Some("word"));
        assert!(parse("application/json", &body).is_err());
        assert!(parse("multipart/form-data; boundary=nope", &body).is_err());
    }
}
