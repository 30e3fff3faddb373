//! Reading a final answer out of generated text, and comparing it with a reference: the
//! last `\boxed{…}` if there is one, else the last number, compared exactly after light
//! normalisation (spaces, thousands separators, `$`, a trailing period; numbers by value).

/// The answer `text` gives, if any. Text after `</think>` is preferred when there is some.
pub fn extract(text: &str) -> Option<String> {
    let tail = match text.rfind("</think>") {
        Some(at) if !text[at + 8..].trim().is_empty() => &text[at + 8..],
        _ => text,
    };
    last_boxed(tail)
        .or_else(|| last_boxed(text))
        .or_else(|| last_number(tail))
        .map(|a| normalise(&a))
        .filter(|a| !a.is_empty())
}

/// Whether `given` matches `reference`.
pub fn matches(given: &str, reference: &str) -> bool {
    let (g, r) = (normalise(given), normalise(reference));
    if g == r {
        return true;
    }
    match (g.parse::<f64>(), r.parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn normalise(answer: &str) -> String {
    let mut s: String = answer
        .trim()
        .trim_start_matches('$')
        .trim_end_matches(['.', '$'])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    // 1,234 → 1234, but leave (1,2) alone.
    let digits_and_commas = s
        .chars()
        .all(|c| c.is_ascii_digit() || c == ',' || c == '.' || c == '-');
    if digits_and_commas && s.contains(',') {
        s.retain(|c| c != ',');
    }
    s
}

/// The content of the last `\boxed{…}`, braces balanced.
fn last_boxed(text: &str) -> Option<String> {
    let start = text.rfind("\\boxed{")? + "\\boxed{".len();
    let mut depth = 1;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(text[start..start + i].to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// The last number: digits with optional sign, thousands commas and decimals.
fn last_number(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut end = chars.len();
    while end > 0 && !chars[end - 1].is_ascii_digit() {
        end -= 1;
    }
    if end == 0 {
        return None;
    }
    let mut start = end;
    while start > 0 {
        let c = chars[start - 1];
        let inner = (c == ',' || c == '.') && start >= 2 && chars[start - 2].is_ascii_digit();
        if c.is_ascii_digit() || inner {
            start -= 1;
        } else {
            break;
        }
    }
    if start > 0 && chars[start - 1] == '-' {
        start -= 1;
    }
    Some(chars[start..end].iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxed_answers_win() {
        assert_eq!(
            extract("so 3 + 4 = \\boxed{7}. Done 9").as_deref(),
            Some("7")
        );
        assert_eq!(
            extract("\\boxed{\\frac{1}{2}}").as_deref(),
            Some("\\frac{1}{2}")
        );
    }

    #[test]
    fn otherwise_the_last_number_after_the_thinking() {
        assert_eq!(
            extract("<think>maybe 12, no 14</think> He has 1,204 sheep.").as_deref(),
            Some("1204")
        );
        assert_eq!(extract("it is -3.5.").as_deref(), Some("-3.5"));
        assert_eq!(extract("<think>so 29</think>").as_deref(), Some("29"));
        assert_eq!(extract("no digits here"), None);
    }

    #[test]
    fn comparison_is_exact_after_normalising() {
        assert!(matches("29", "29"));
        assert!(matches("29.0", "29"));
        assert!(matches("$1,204.", "1204"));
        assert!(!matches("28", "29"));
        assert!(matches("\\frac{1}{2}", "\\frac{1}{2}"));
    }
}
