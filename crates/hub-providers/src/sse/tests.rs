#![expect(clippy::unwrap_used, reason = "tests")]

use super::*;

const STREAM: &str = "data: {\"id\":\"c\",\"model\":\"up-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}\n\n\
data: {\"id\":\"c\",\"model\":\"up-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n\
data: {\"id\":\"c\",\"model\":\"up-model\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2,\"total_tokens\":6}}\n\n\
data: [DONE]\n\n";

fn run(opts: SseOptions, input: &[u8], split: usize) -> (String, SseProcessor) {
    let mut p = SseProcessor::new(opts);
    p.collect_content = true;
    let mut out = Vec::new();
    for piece in input.chunks(split.max(1)) {
        p.feed(piece, &mut out);
    }
    p.finish(&mut out);
    (String::from_utf8(out).unwrap(), p)
}

#[test]
fn passes_through_unchanged_and_reads_usage_at_any_chunking() {
    for split in [1, 2, 7, 64, 10_000] {
        let (out, p) = run(SseOptions::default(), STREAM.as_bytes(), split);
        assert_eq!(out, STREAM, "split {split}");
        assert_eq!(p.usage.unwrap().total_tokens, 6);
        assert!(p.done);
        assert_eq!(p.content, "Hello");
    }
}

#[test]
fn strips_usage_chunk_when_not_asked() {
    let (out, p) = run(
        SseOptions {
            strip_usage_chunk: true,
            rename_model: None,
        },
        STREAM.as_bytes(),
        5,
    );
    assert!(!out.contains("\"prompt_tokens\""), "{out}");
    assert!(out.ends_with("data: [DONE]\n\n"));
    assert_eq!(p.usage.unwrap().prompt_tokens, 4, "usage is still recorded");
}

#[test]
fn renames_model_and_accepts_crlf() {
    let crlf = STREAM.replace("\n\n", "\r\n\r\n");
    let (out, p) = run(
        SseOptions {
            strip_usage_chunk: false,
            rename_model: Some("asked".into()),
        },
        crlf.as_bytes(),
        3,
    );
    assert!(!out.contains("up-model"), "{out}");
    assert_eq!(out.matches("\"model\":\"asked\"").count(), 3);
    assert!(out.contains("\r\n\r\n"));
    assert!(p.done);
}

#[test]
fn comments_and_events_pass() {
    let input = b": keep-alive\n\nevent: ping\ndata: {}\n\n";
    let (out, _) = run(SseOptions::default(), input, 4);
    assert_eq!(out.as_bytes(), input);
}

#[test]
fn fallback_text_is_parsed_not_byte_matched() {
    // A space after the colon, escaped quotes, unicode escapes (a surrogate pair too), a
    // completions `text`, and `"content"` text inside another field that is not the delta.
    let input = concat!(
        "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"say \\\"hi\\\"\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"\\u00e9\\ud83d\\ude00\\n\"}}]}\n\n",
        "data: {\"choices\":[{\"text\": \"done\"}], \"note\": {\"content\": \"not text\"}}\n\n",
        "data: [DONE]\n\n",
    );
    for split in [1, 3, 1000] {
        let (out, p) = run(SseOptions::default(), input.as_bytes(), split);
        assert_eq!(out, input, "frames pass unchanged");
        assert!(p.usage.is_none());
        assert_eq!(p.content, "say \"hi\"é😀\ndone", "split {split}");
    }
}

#[test]
fn text_is_no_longer_gathered_once_usage_is_seen() {
    let input = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\": {\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n",
    );
    let (_, p) = run(SseOptions::default(), input.as_bytes(), 1000);
    assert_eq!(p.usage.unwrap().total_tokens, 2);
    assert_eq!(p.content, "a");
}

const KEY: &str = "sk-chan-key-0123456789";

fn secret_input() -> String {
    format!(
        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"ok\"}}}}]}}\n\n\
         data: {{\"error\":{{\"message\":\"bad {KEY}\",\"type\":\"{KEY}\",\"code\":\"{KEY}\",\"param\":{{\"n\":[\"{KEY}\"]}}}}}}\n\n\
         data: error {KEY} as text\n\n"
    )
}

#[test]
fn error_frames_have_the_key_masked() {
    let input = secret_input();
    for split in [1, 5, 10_000] {
        let mut p = SseProcessor::new(SseOptions::default());
        p.set_secrets(Secrets::of_channel(KEY, ""));
        let mut out = Vec::new();
        for piece in input.as_bytes().chunks(split) {
            p.feed(piece, &mut out);
        }
        p.finish(&mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("0123456789"), "{out}");
        assert!(
            out.starts_with("data: {\"choices\""),
            "normal frames unchanged: {out}"
        );
        assert_eq!(out.matches("***").count(), 5, "{out}");
        let broken = StreamTransform::error_frame(&mut p, &format!("stream broke near {KEY}"));
        assert!(!String::from_utf8(broken).unwrap().contains(KEY));
    }
}

#[test]
fn event_error_frames_keep_their_lines_and_lose_the_key() {
    let mut p = SseProcessor::new(SseOptions::default());
    p.set_secrets(Secrets::of_channel(KEY, ""));
    let mut out = Vec::new();
    p.feed(
        format!("event: error\r\nid: 7\r\ndata: quota for {KEY}\r\n\r\n").as_bytes(),
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "event: error\r\nid: 7\r\ndata: quota for ***\r\n\r\n"
    );
}

#[test]
fn native_passthrough_masks_error_events_and_keeps_other_frames() {
    use crate::{protocol::Protocol, stream::Passthrough};
    let claude = format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"usage\":{{\"input_tokens\":3,\"output_tokens\":1}}}}}}\n\n\
         event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"{KEY}\",\"message\":\"key {KEY}\",\"details\":{{\"k\":\"{KEY}\"}}}}}}\n\n"
    );
    let gemini = format!(
        "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"hi\"}}]}}}}]}}\r\n\r\n\
         data: {{\"error\":{{\"code\":400,\"message\":\"{KEY}\",\"status\":\"{KEY}\",\"details\":[{{\"reason\":\"{KEY}\"}}]}}}}"
    );
    for (proto, input) in [(Protocol::Claude, claude), (Protocol::Gemini, gemini)] {
        for split in [1, 4, 10_000] {
            let mut p = Passthrough::new(proto);
            p.set_secrets(Secrets::of_channel(KEY, ""));
            let mut out = Vec::new();
            for piece in input.as_bytes().chunks(split) {
                p.feed(piece, &mut out);
            }
            p.finish(&mut out);
            let out = String::from_utf8(out).unwrap();
            assert!(!out.contains("0123456789"), "{proto:?} {out}");
            let first_len = input
                .find("\n\n")
                .or_else(|| input.find("\r\n\r\n"))
                .unwrap();
            assert_eq!(
                out[..first_len],
                input[..first_len],
                "first frame unchanged"
            );
            if proto == Protocol::Claude {
                assert!(out.contains("event: error\ndata: {"), "{out}");
                assert_eq!(p.usage().unwrap().prompt_tokens, 3);
            }
        }
    }
    // A text (not JSON) error event over two data lines stays two data lines, masked.
    let mut p = Passthrough::new(Protocol::Claude);
    p.set_secrets(Secrets::of_channel(KEY, ""));
    let mut out = Vec::new();
    p.feed(
        format!("event: error\ndata: bad {KEY}\ndata: again {KEY}\n\n").as_bytes(),
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "event: error\ndata: bad ***\ndata: again ***\n\n"
    );
    // Without secrets the bytes pass exactly as they came.
    let mut p = Passthrough::new(Protocol::Gemini);
    let mut out = Vec::new();
    let input = "data: {\"error\":{\"message\":\"x\"}}\r\n\r\ndata: {}";
    p.feed(input.as_bytes(), &mut out);
    p.finish(&mut out);
    assert_eq!(out, input.as_bytes());
}
