//! Reading a configuration: defaults, then a TOML file, then `DEADBOLT_SECTION__KEY`
//! environment variables, merged key by key so that each bad key is named.

use crate::{Config, ConfigErrors, ConfigProblem};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

const ENV_PREFIX: &str = "DEADBOLT_";

impl Config {
    /// Loads defaults, the file (if any), then the environment, and checks the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigErrors> {
        match file {
            None => Self::parse(None, env),
            Some(path) => {
                let key = path.display().to_string();
                match std::fs::read_to_string(path) {
                    Ok(text) => Self::parse(Some((&key, &text)), env),
                    Err(e) => {
                        // the environment's own problems are reported with the unreadable file
                        let mut problems = vec![ConfigProblem {
                            key,
                            message: format!("cannot read: {e}"),
                        }];
                        if let Err(ConfigErrors(more)) = Self::parse(None, env) {
                            problems.extend(more);
                        }
                        Err(ConfigErrors(problems))
                    }
                }
            }
        }
    }

    /// [`Self::load`] once the file is read: `file` is its name (for problems) and its text.
    /// Public so that the fuzz targets check the very parse the server runs.
    pub fn parse(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigErrors> {
        let mut problems = Vec::new();
        let mut root = toml::Table::new();
        if let Some((key, text)) = file {
            match text.parse::<toml::Table>() {
                Ok(t) => root = t,
                Err(e) => problems.push(ConfigProblem {
                    key: key.to_owned(),
                    message: format!("not valid TOML: {}", e.message()),
                }),
            }
        }
        apply_env(&mut root, env, &mut problems);
        let config = from_table(root, &mut problems);
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(problems))
        }
    }
}

/// `DEADBOLT_SERVER__BIND=…` sets `server.bind`. Values are read as TOML when they parse as
/// TOML (numbers, booleans, arrays) and as plain strings otherwise.
fn apply_env(
    root: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<ConfigProblem>,
) {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        // Variables without `__` (DEADBOLT_TEST_DATABASE, say) are not configuration.
        let Some((section, key)) = path.split_once("__") else {
            continue;
        };
        let (section, key) = (section.to_lowercase(), key.to_lowercase());
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        match root
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(t) => {
                t.insert(key, value);
            }
            _ => problems.push(ConfigProblem {
                key: section,
                message: format!("{name}: section is not a table"),
            }),
        }
    }
}

/// Deserialises section by section and key by key, so that each bad key is named and the good
/// ones still apply.
fn from_table(root: toml::Table, problems: &mut Vec<ConfigProblem>) -> Config {
    let mut config = Config::default();
    for (section, value) in root {
        let toml::Value::Table(table) = value else {
            problems.push(ConfigProblem {
                key: section,
                message: "must be a [section]".into(),
            });
            continue;
        };
        let ok = match section.as_str() {
            "server" => merge(&section, table, &mut config.server, problems),
            "database" => merge(&section, table, &mut config.database, problems),
            "secrets" => merge(&section, table, &mut config.secrets, problems),
            "email" => merge(&section, table, &mut config.email, problems),
            "sms" => merge(&section, table, &mut config.sms, problems),
            "webauthn" => merge(&section, table, &mut config.webauthn, problems),
            "mfa" => merge(&section, table, &mut config.mfa, problems),
            "password" => merge(&section, table, &mut config.password, problems),
            "session" => merge(&section, table, &mut config.session, problems),
            "limits" => merge(&section, table, &mut config.limits, problems),
            "lockout" => merge(&section, table, &mut config.lockout, problems),
            "codes" => merge(&section, table, &mut config.codes, problems),
            "step_up" => merge(&section, table, &mut config.step_up, problems),
            "risk" => merge(&section, table, &mut config.risk, problems),
            "locations" => merge(&section, table, &mut config.locations, problems),
            "geoip" => merge(&section, table, &mut config.geoip, problems),
            "delivery" => merge(&section, table, &mut config.delivery, problems),
            "log" => merge(&section, table, &mut config.log, problems),
            "metrics" => merge(&section, table, &mut config.metrics, problems),
            _ => false,
        };
        if !ok
            && !problems
                .iter()
                .any(|p| p.key.starts_with(&format!("{section}.")))
        {
            problems.push(ConfigProblem {
                key: section,
                message: "unknown section".into(),
            });
        }
    }
    config
}

/// Applies `table` to `target` one key at a time, keeping each key that deserialises and
/// reporting each that does not. False when `target` cannot be written as a table.
fn merge<T: Serialize + DeserializeOwned>(
    section: &str,
    table: toml::Table,
    target: &mut T,
    problems: &mut Vec<ConfigProblem>,
) -> bool {
    let Ok(toml::Value::Table(mut accepted)) = toml::Value::try_from(&*target) else {
        return false;
    };
    for (key, value) in table {
        let mut trial = accepted.clone();
        trial.insert(key.clone(), value.clone());
        match toml::Value::Table(trial).try_into::<T>() {
            Ok(_) => {
                accepted.insert(key, value);
            }
            Err(e) => problems.push(ConfigProblem {
                key: format!("{section}.{key}"),
                message: e.message().trim().to_owned(),
            }),
        }
    }
    if let Ok(t) = toml::Value::Table(accepted).try_into::<T>() {
        *target = t;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn environment_overrides_file_and_parses_types() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[server]\nbind = \"127.0.0.1:9000\"\n[password]\nmemory_kib = 4096\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&f),
            env(&[
                ("DEADBOLT_SERVER__BIND", "0.0.0.0:7000"),
                ("DEADBOLT_PASSWORD__ITERATIONS", "3"),
                ("DEADBOLT_MFA__REQUIRED_FOR_ROLES", "[\"admin\", \"ops\"]"),
                ("DEADBOLT_TEST_DATABASE", "postgres"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.bind, "0.0.0.0:7000");
        assert_eq!(c.password.memory_kib, 4096);
        assert_eq!(c.password.iterations, 3);
        assert_eq!(c.mfa.required_for_roles, ["admin", "ops"]);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[server]\nbind = \"nowhere\"\ncolour = \"blue\"\n[database]\npool_size = \"many\"\n\
             [mfa]\nenforcement = \"sometimes\"\n[nonsense]\nx = 1\n[password]\nmemory_kib = 1\n",
        )
        .unwrap();
        let err =
            Config::load(Some(&f), env(&[("DEADBOLT_SESSION__IDLE_SECONDS", "5")])).unwrap_err();
        let keys: Vec<&str> = err.0.iter().map(|p| p.key.as_str()).collect();
        for expected in [
            "server.bind",
            "server.colour",
            "database.pool_size",
            "mfa.enforcement",
            "nonsense",
            "password.memory_kib",
            "session.idle_seconds",
        ] {
            assert!(keys.contains(&expected), "{expected} missing from {keys:?}");
        }
    }

    #[test]
    fn unreadable_or_invalid_files_are_problems() {
        let err = Config::load(Some(Path::new("/nonexistent/deadbolt.toml")), vec![]).unwrap_err();
        assert!(err.0[0].message.starts_with("cannot read"));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[server\n").unwrap();
        let err = Config::load(Some(&f), vec![]).unwrap_err();
        assert!(err.0[0].message.starts_with("not valid TOML"));
    }
}
