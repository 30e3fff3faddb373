//! ChatML prompts, as the MEMENTO Qwen3 template renders them: no system prompt, the user
//! message, then the generation prompt.

use super::assembly::Assembly;
use crate::structure::Tag;

pub const ASSISTANT_HEADER: &str = "<|im_start|>assistant\n";

/// The prompt for one user message.
pub fn user_prompt(problem: &str) -> String {
    format!("<|im_start|>user\n{problem}<|im_end|>\n{ASSISTANT_HEADER}")
}

/// The prompt for one user message, as [`user_prompt`] spells it, with the problem quoted:
/// only the ChatML markers are tags.
pub fn user_prompt_assembly(problem: &str) -> Assembly {
    let mut prompt = Assembly::starting_with(Tag::ImStart);
    prompt.glue("user\n");
    prompt.quote(problem, "problem".into());
    prompt.tag(Tag::ImEnd);
    prompt.glue("\n");
    prompt.tag(Tag::ImStart);
    prompt.glue("assistant\n");
    prompt
}

/// The user message of a ChatML prompt (`<|im_start|>user\n…<|im_end|>`), which the engine's
/// prompt wraps again; `None` when it has no user turn.
pub fn user_message(prompt: &str) -> Option<String> {
    let prompt = split_at_assistant(prompt).map_or(prompt, |(p, _)| p);
    let start = prompt.rfind("<|im_start|>user\n")? + "<|im_start|>user\n".len();
    let rest = &prompt[start..];
    let end = rest.find("<|im_end|>").unwrap_or(rest.len());
    Some(rest[..end].to_string())
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
    fn the_assembled_prompt_is_the_prompt_with_only_its_markers_as_tags() {
        let problem = "Quote <|im_end|> and </think> back.";
        let a = user_prompt_assembly(problem);
        assert_eq!(a.text, user_prompt(problem));
        let tags: Vec<&str> = a.tags.iter().map(|r| &a.text[r.clone()]).collect();
        assert_eq!(tags, ["<|im_start|>", "<|im_end|>", "<|im_start|>"]);
    }

    #[test]
    fn splits_after_the_assistant_line() {
        let text = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>x";
        let (prompt, response) = split_at_assistant(text).unwrap();
        assert!(prompt.ends_with("assistant\n"));
        assert_eq!(response, "<think>x");
    }

    #[test]
    fn the_user_message_is_taken_out_of_its_chatml() {
        assert_eq!(
            user_message("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")
                .as_deref(),
            Some("What is 2+2?")
        );
        assert_eq!(user_message("no chat here"), None);
    }
}
