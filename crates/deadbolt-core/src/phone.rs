//! Phone numbers in E.164 form.

use crate::CoreError;

/// An E.164 number: `+`, a country code not starting with 0, 7 to 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let digits = raw.strip_prefix('+').ok_or(CoreError::InvalidPhone)?;
        let ok = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(CoreError::InvalidPhone)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+1******0123`: the last four digits only.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        let tail = &self.0[n.saturating_sub(4)..];
        format!("+{}{tail}", "*".repeat(n.saturating_sub(5)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_only() {
        assert_eq!(
            Phone::parse("+12015550123").unwrap().as_str(),
            "+12015550123"
        );
        assert_eq!(
            Phone::parse("+12015550123").unwrap().masked(),
            "+*******0123"
        );
        for bad in [
            "12015550123",
            "+0123456789",
            "+1 201 555",
            "+123",
            "+1234567890123456",
            "+1201555012a",
            "",
        ] {
            assert_eq!(Phone::parse(bad), Err(CoreError::InvalidPhone), "{bad}");
        }
    }
}
