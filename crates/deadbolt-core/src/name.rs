//! Names people give things (API keys, teams, clients): shown back to them as given, once
//! trimmed.

/// `raw` trimmed, when it is 1 to `max_chars` characters without control characters.
pub fn trimmed(raw: &str, max_chars: usize) -> Option<String> {
    let name = raw.trim();
    let fits = !name.is_empty() && name.chars().count() <= max_chars;
    (fits && !name.chars().any(char::is_control)).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(trimmed("  Shop  ", 4).as_deref(), Some("Shop"));
        assert_eq!(trimmed("Shop", 3), None);
        assert_eq!(
            trimmed("Café", 4).as_deref(),
            Some("Café"),
            "characters, not bytes"
        );
        assert_eq!(trimmed("   ", 10), None);
        assert_eq!(trimmed("a\u{7}b", 10), None);
    }
}
