//! What [`crate::Config::load`] reports: each problem with the key it is about.

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// `section.key`, or the file for problems reading it.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A section's findings, `(key, message)`, as problems keyed `section.key`.
pub(crate) fn in_section(section: &str, found: Vec<(&'static str, String)>) -> Vec<ConfigProblem> {
    found
        .into_iter()
        .map(|(key, message)| ConfigProblem {
            key: format!("{section}.{key}"),
            message,
        })
        .collect()
}

/// Every problem found, in the order found.
#[derive(Debug, thiserror::Error)]
#[error("{} configuration problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigProblem>);
