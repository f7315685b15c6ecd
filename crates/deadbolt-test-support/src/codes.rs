//! Reading a sent code out of a message's words.

/// The six-digit numbers of a text, in order (a code message has exactly one).
pub fn six_digit_numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            if run.len() == 6 {
                out.push(run.clone());
            }
            run.clear();
        }
    }
    out
}
