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
