//! One streamed chunk of an OpenAI-compatible server, read as vLLM 0.13 sends it: the chat
//! API's `choices[0].delta` (`content`, or `reasoning_content` / `reasoning` when the server
//! runs a reasoning parser) or the completions API's `choices[0].text`; the tokens' ids in
//! `token_ids` and the prompt's in `prompt_token_ids` (with `return_token_ids`); logprobs in
//! either API's shape; `finish_reason`; and `usage`, alone in the last chunk when
//! `stream_options.include_usage` is set. Fields that were not asked for arrive as explicit
//! nulls. A chunk may carry several tokens.

use serde_json::Value;

/// One token of a remote stream.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteToken {
    pub text: String,
    pub id: Option<u32>,
    pub logprob: Option<f32>,
    /// The alternatives the server returned, best first.
    pub top: Vec<(String, f32)>,
}

/// What one chunk says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    pub tokens: Vec<RemoteToken>,
    pub prompt_ids: Option<Vec<u32>>,
    pub finish_reason: Option<String>,
    /// (prompt tokens, completion tokens), from a usage chunk.
    pub usage: Option<(u64, u64)>,
    /// The server's error, when the stream carries one instead of tokens.
    pub error: Option<String>,
}

fn ids(v: &Value) -> Option<Vec<u32>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
        .collect()
}

fn f32_of(v: &Value) -> Option<f32> {
    v.as_f64().map(|x| x as f32)
}

/// One token's (text, logprob, alternatives) as a choice's `logprobs` give them.
type LogprobEntry = (String, Option<f32>, Vec<(String, f32)>);

/// Per-token entries from a choice's `logprobs`, in either API's shape.
fn logprob_entries(logprobs: &Value) -> Option<Vec<LogprobEntry>> {
    if let Some(content) = logprobs.get("content").and_then(Value::as_array) {
        return Some(
            content
                .iter()
                .map(|e| {
                    let top = e
                        .get("top_logprobs")
                        .and_then(Value::as_array)
                        .map(|alts| {
                            alts.iter()
                                .filter_map(|a| {
                                    Some((
                                        a.get("token")?.as_str()?.to_string(),
                                        f32_of(a.get("logprob")?)?,
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (
                        e.get("token")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        e.get("logprob").and_then(f32_of),
                        top,
                    )
                })
                .collect(),
        );
    }
    let tokens = logprobs.get("tokens")?.as_array()?;
    let lps = logprobs.get("token_logprobs").and_then(Value::as_array);
    let tops = logprobs.get("top_logprobs").and_then(Value::as_array);
    Some(
        tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut top: Vec<(String, f32)> = tops
                    .and_then(|t| t.get(i))
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), f32_of(v)?)))
                            .collect()
                    })
                    .unwrap_or_default();
                top.sort_by(|a, b| b.1.total_cmp(&a.1));
                (
                    t.as_str().unwrap_or_default().to_string(),
                    lps.and_then(|l| l.get(i)).and_then(f32_of),
                    top,
                )
            })
            .collect(),
    )
}

/// `text` cut into `count` token texts without the tokenizer that made them: each MEMENTO tag
/// (one token in the checkpoints' vocabularies) is a token of its own, and the ordinary text
/// between tags goes on one token, the tokens left over riding empty behind the longest run.
/// The texts add up to `text` and the count stays right, so the KV follows the server's count
/// and every tag lands at its place; only where inside a run of text a token boundary falls is
/// unknown. When the tags alone outnumber the tokens (tags spelled in several tokens), all the
/// text goes on the first token.
pub fn split_at_tags(text: &str, count: usize) -> Vec<String> {
    let mut segments: Vec<(String, bool)> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let next = crate::structure::Tag::ALL
            .iter()
            .filter_map(|t| rest.find(t.text()).map(|at| (at, t.text())))
            .min_by_key(|(at, tag)| (*at, std::cmp::Reverse(tag.len())));
        match next {
            Some((0, tag)) => {
                segments.push((tag.to_string(), true));
                rest = &rest[tag.len()..];
            }
            Some((at, _)) => {
                segments.push((rest[..at].to_string(), false));
                rest = &rest[at..];
            }
            None => {
                segments.push((rest.to_string(), false));
                rest = "";
            }
        }
    }
    if segments.len() > count || count == 0 {
        let mut out = vec![String::new(); count];
        if let Some(first) = out.first_mut() {
            *first = text.to_string();
        }
        return out;
    }
    let spare = count - segments.len();
    let longest = segments
        .iter()
        .enumerate()
        .filter(|(_, (_, tag))| !tag)
        .max_by_key(|(i, (s, _))| (s.len(), std::cmp::Reverse(*i)))
        .map(|(i, _)| i);
    let mut out = Vec::with_capacity(count);
    for (i, (segment, _)) in segments.into_iter().enumerate() {
        out.push(segment);
        if Some(i) == longest {
            out.extend(std::iter::repeat_n(String::new(), spare));
        }
    }
    // Only tags and no text run to ride behind: the spares go last.
    out.resize(count, String::new());
    out
}

/// Read one `data:` payload (not `[DONE]`).
pub fn parse_chunk(payload: &str) -> Result<Chunk, String> {
    let v: Value =
        serde_json::from_str(payload).map_err(|e| format!("a chunk that is not JSON: {e}"))?;
    let mut chunk = Chunk {
        prompt_ids: v.get("prompt_token_ids").and_then(ids),
        ..Chunk::default()
    };
    if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
        chunk.error = Some(
            e.get("message")
                .and_then(Value::as_str)
                .map_or_else(|| e.to_string(), str::to_string),
        );
        return Ok(chunk);
    }
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        chunk.usage = Some((n("prompt_tokens"), n("completion_tokens")));
    }
    let Some(choice) = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    else {
        return Ok(chunk);
    };
    chunk.finish_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    // The text: completions' `text`, or the chat delta's reasoning and content.
    let text = match choice.get("delta") {
        Some(delta) => ["reasoning_content", "reasoning", "content"]
            .iter()
            .filter_map(|k| delta.get(*k).and_then(Value::as_str))
            .collect::<String>(),
        None => choice
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    let token_ids = choice.get("token_ids").and_then(ids).unwrap_or_default();
    let entries = choice
        .get("logprobs")
        .filter(|l| !l.is_null())
        .and_then(logprob_entries)
        .unwrap_or_default();
    // One token per id or logprob entry; the text split by the entries' tokens when they add
    // up to it, else at the tags (see `split_at_tags`).
    let count = token_ids.len().max(entries.len());
    if count == 0 {
        if !text.is_empty() {
            chunk.tokens.push(RemoteToken {
                text,
                id: None,
                logprob: None,
                top: Vec::new(),
            });
        }
        return Ok(chunk);
    }
    let by_entries =
        entries.len() == count && entries.iter().map(|e| e.0.as_str()).collect::<String>() == text;
    let pieces = match by_entries {
        true => entries.iter().map(|e| e.0.clone()).collect(),
        false => split_at_tags(&text, count),
    };
    for (i, piece) in pieces.into_iter().enumerate() {
        let entry = entries.get(i);
        chunk.tokens.push(RemoteToken {
            text: piece,
            id: token_ids.get(i).copied(),
            logprob: entry.and_then(|e| e.1),
            top: entry.map(|e| e.2.clone()).unwrap_or_default(),
        });
    }
    Ok(chunk)
}

/// `data:` payloads from a server-sent-event stream, one per event (`[DONE]` included).
pub struct SseReader<R> {
    lines: std::io::Lines<R>,
}

impl<R: std::io::BufRead> SseReader<R> {
    pub fn new(reader: R) -> Self {
        SseReader {
            lines: reader.lines(),
        }
    }
}

impl<R: std::io::BufRead> Iterator for SseReader<R> {
    type Item = std::io::Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut data: Option<String> = None;
        loop {
            match self.lines.next() {
                None => return data.map(Ok),
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(line)) => {
                    if line.is_empty() {
                        if data.is_some() {
                            return data.map(Ok);
                        }
                        continue;
                    }
                    if let Some(rest) = line.strip_prefix("data:") {
                        let rest = rest.strip_prefix(' ').unwrap_or(rest);
                        match &mut data {
                            Some(d) => {
                                d.push('\n');
                                d.push_str(rest);
                            }
                            None => data = Some(rest.to_string()),
                        }
                    }
                    // Comments (`:`), `event:`, `id:` and `retry:` lines carry nothing here.
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_at_tags;

    #[test]
    fn tags_get_a_token_each_and_text_runs_the_rest() {
        assert_eq!(
            split_at_tags("<think>\n<|block_start|>", 3),
            ["<think>", "\n", "<|block_start|>"]
        );
        assert_eq!(split_at_tags("one two three", 3), ["one two three", "", ""]);
        assert_eq!(
            split_at_tags("a<|block_end|>bcd", 4),
            ["a", "<|block_end|>", "bcd", ""]
        );
        // More tags than tokens: everything on the first.
        assert_eq!(split_at_tags("<think></think>", 1), ["<think></think>"]);
        for (text, n) in [
            ("x<|summary_start|>yy<|summary_end|>", 6),
            ("", 2),
            ("abc", 1),
        ] {
            let parts = split_at_tags(text, n);
            assert_eq!(parts.len(), n);
            assert_eq!(parts.concat(), text);
        }
    }
}
