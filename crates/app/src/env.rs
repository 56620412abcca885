//! Settings from the process environment, with a `.env` file for local runs.

use std::path::Path;

use config::{ConfigError, Settings};

/// Reads settings from the environment, filling gaps from `./.env` if the
/// file exists. Variables already in the environment win over the file, and
/// the process environment is never modified.
///
/// # Errors
/// An unreadable `.env` file, or every problem with the settings.
pub fn load() -> anyhow::Result<Settings> {
    load_from(Path::new(".env"), std::env::vars())
}

/// [`load`] with the file and the environment given.
///
/// # Errors
/// An unreadable file, or every problem with the settings.
pub fn load_from(
    dotenv: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Settings> {
    let mut vars: Vec<(String, String)> = Vec::new();
    if dotenv.exists() {
        for item in dotenvy::from_path_iter(dotenv)
            .map_err(|err| anyhow::anyhow!("reading {}: {err}", dotenv.display()))?
        {
            let (key, value) =
                item.map_err(|err| anyhow::anyhow!("reading {}: {err}", dotenv.display()))?;
            vars.push((key, value));
        }
    }
    // Later values win, so the real environment goes last.
    vars.extend(env);
    Settings::from_vars(vars).map_err(|err: ConfigError| anyhow::Error::new(err))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn environment_wins_over_dotenv_and_dotenv_fills_gaps() {
        let dir = std::env::temp_dir().join(format!("dotenv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        let mut file = std::fs::File::create(&path).unwrap();
        writeln!(file, "DATABASE_URL=postgres://file@localhost/app").unwrap();
        writeln!(file, "HTTP_ADDR=127.0.0.1:1111").unwrap();
        drop(file);

        let settings = load_from(
            &path,
            [("HTTP_ADDR".to_owned(), "127.0.0.1:2222".to_owned())],
        )
        .unwrap();
        assert_eq!(settings.http_addr.port(), 2222);
        assert_eq!(settings.database.max_connections, 10);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_dotenv_is_fine() {
        let err = load_from(Path::new("/nonexistent/.env"), []).unwrap_err();
        assert!(
            err.to_string().contains("DATABASE_URL: is required"),
            "{err}"
        );
    }
}
