//! ChatML prompts, as the MEMENTO Qwen3 template renders them: no system prompt, the user
//! message, then the generation prompt.

pub const ASSISTANT_HEADER: &str = "<|im_start|>assistant\n";

/// The prompt for one user message.
pub fn user_prompt(problem: &str) -> String {
    format!("<|im_start|>user\n{problem}<|im_end|>\n{ASSISTANT_HEADER}")
}

/// Split a raw transcript that carries its own ChatML into (prompt, response) after the
/// first `<|im_start|>assistant` line; `None` when it has no assistant header.
pub fn split_at_assistant(text: &str) -> Option<(&str, &str)> {
    let at = text.find("<|im_start|>assistant")?;
    let rest = &text[at..];
    let line_end = rest.find('\n').map_or(rest.len(), |n| n + 1);
    Some(text.split_at(at + line_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_after_the_assistant_line() {
        let text = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>x";
        let (prompt, response) = split_at_assistant(text).unwrap();
        assert!(prompt.ends_with("assistant\n"));
        assert_eq!(response, "<think>x");
    }
}
