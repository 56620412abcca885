//! How a variable is declared: the `settings!` macro and what it builds on.
//!
//! Every variable is declared once, in `variables.rs`, as one entry:
//!
//! ```text
//! CACHE_TTL cache_ttl: Positive<Duration>, default "5m",
//!     "How long a cached entry lives.";
//! ```
//!
//! that is: the name; the same name in lower case, which is the Rust field
//! and the key envy hands over (a mismatch does not compile); the
//! [`Parse`] type that turns the text into a value and so gives its type;
//! `default "text"`, `required` or `optional`; `secret` when the value must
//! never be shown (exactly when the [`Parse`] type holds a secret, or it
//! does not compile); and the one-line help. From that list the macro makes:
//!
//! - `VARIABLES`, the table `--help` prints and the README is checked
//!   against;
//! - `Raw`, which envy deserializes: one [`Input`] per variable, parsed by
//!   its [`Parse`] type while envy reads it, so a wrong value becomes a
//!   recorded message instead of an error that stops the run;
//! - `Vars`, the typed value of every variable, which `parse.rs` checks
//!   across variables and groups into [`Settings`](crate::Settings);
//! - `Raw::read`, which applies the defaults and records one problem per
//!   variable missing or wrong, in the order of the list.

use serde::{Deserialize, Deserializer};

use crate::Problem;

/// How the text of one variable becomes its value.
pub(crate) trait Parse {
    /// The typed value.
    type Value;

    /// Whether the value is a secret type, never shown in `Debug` output;
    /// checked against the declaration's `secret` when the crate compiles.
    const SECRET: bool = false;

    /// Whether [`parse`](Self::parse) sees the text exactly as given;
    /// otherwise it is trimmed first. Secrets and file paths are kept byte
    /// for byte.
    const VERBATIM: bool = false;

    /// Parses a value that is never blank. The message says what is wrong,
    /// and never quotes the text of a secret.
    fn parse(text: &str) -> Result<Self::Value, String>;
}

/// One variable as envy delivered it.
#[derive(Default)]
pub(crate) enum Input<P: Parse> {
    /// Not given (or blank).
    #[default]
    Unset,
    /// Given and parsed.
    Parsed(P::Value),
    /// Given but refused, with what is wrong.
    Refused(String),
}

impl<'de, P: Parse> Deserialize<'de> for Input<P> {
    /// Takes the text envy found and parses it; a value the parser refuses
    /// is kept as a message, so one wrong variable never hides the others.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let text = if P::VERBATIM { &text } else { text.trim() };
        Ok(match P::parse(text) {
            Ok(value) => Self::Parsed(value),
            Err(message) => Self::Refused(message),
        })
    }
}

/// What happens when a variable is unset.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Presence {
    /// This text is parsed instead.
    Default(&'static str),
    /// Start-up fails.
    Required,
    /// The value is `None`.
    Optional,
}

/// The problems found so far, in the order they were found.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    pub(crate) list: Vec<Problem>,
}

impl Problems {
    /// Records that `variable` is wrong.
    pub(crate) fn report(&mut self, variable: &'static str, message: impl Into<String>) {
        self.list.push(Problem {
            variable,
            message: message.into(),
        });
    }

    /// Records a problem unless `ok`.
    pub(crate) fn check(
        &mut self,
        ok: bool,
        variable: &'static str,
        message: impl FnOnce() -> String,
    ) {
        if !ok {
            self.report(variable, message());
        }
    }

    /// The value of one variable: as given, else its default; `None`,
    /// with a problem recorded, when it is refused or required and missing.
    pub(crate) fn take<P: Parse>(
        &mut self,
        variable: &'static str,
        presence: Presence,
        input: Input<P>,
    ) -> Option<P::Value> {
        let parsed = match (input, presence) {
            (Input::Parsed(value), _) => return Some(value),
            (Input::Refused(message), _) => Err(message),
            (Input::Unset, Presence::Default(text)) => P::parse(text),
            (Input::Unset, Presence::Required) => Err("is required".to_owned()),
            (Input::Unset, Presence::Optional) => return None,
        };
        match parsed {
            Ok(value) => Some(value),
            Err(message) => {
                self.report(variable, message);
                None
            }
        }
    }
}

/// Whether `field` is `name` in lower case, for the check that each
/// declared field is spelled like its variable (envy lower-cases names).
pub(crate) const fn is_lower_case_of(field: &str, name: &str) -> bool {
    let (field, name) = (field.as_bytes(), name.as_bytes());
    if field.len() != name.len() {
        return false;
    }
    let mut i = 0;
    while i < field.len() {
        if name[i].is_ascii_lowercase() || field[i] != name[i].to_ascii_lowercase() {
            return false;
        }
        i += 1;
    }
    true
}

/// Declares every variable; see the module documentation for the entry
/// syntax and what it expands to. The `@` arms are its helpers.
macro_rules! settings {
    (@presence default $text:literal) => { $crate::declare::Presence::Default($text) };
    (@presence required) => { $crate::declare::Presence::Required };
    (@presence optional) => { $crate::declare::Presence::Optional };
    (@secret secret) => { true };
    (@secret) => { false };
    ($(
        $name:ident $field:ident: $parser:ty, $presence:ident $($default:literal)?, $($secret:ident,)?
            $help:literal;
    )*) => {
        /// Every variable, in the order `--help` and the README list them.
        pub const VARIABLES: &[$crate::Variable] = &[$(
            $crate::Variable::declared(
                stringify!($name),
                $crate::declare::settings!(@presence $presence $($default)?),
                $crate::declare::settings!(@secret $($secret)?),
                $help,
            ),
        )*];

        /// The variables as envy delivers them, each already parsed. A
        /// field is named like its variable in lower case, as envy maps
        /// names; a variable not given keeps its field's default, unset.
        #[derive(Default, serde::Deserialize)]
        #[serde(default)]
        pub(crate) struct Raw {
            $($field: $crate::declare::Input<$parser>,)*
        }

        /// The typed value of every variable: `None` when it is optional
        /// and unset, or when it is wrong (a problem is then recorded).
        #[derive(Debug)]
        pub(crate) struct Vars {
            $(
                #[doc = $help]
                pub(crate) $field: Option<<$parser as $crate::declare::Parse>::Value>,
            )*
        }

        impl Raw {
            /// Applies the defaults, and records one problem for each
            /// variable that is missing or wrong, in the order above.
            pub(crate) fn read(self, problems: &mut $crate::declare::Problems) -> Vars {
                Vars {
                    $($field: problems.take(
                        stringify!($name),
                        $crate::declare::settings!(@presence $presence $($default)?),
                        self.$field,
                    ),)*
                }
            }
        }

        $(
            const _: () = assert!(
                $crate::declare::is_lower_case_of(stringify!($field), stringify!($name)),
                concat!("the field of ", stringify!($name), " must be its name in lower case"),
            );
            const _: () = assert!(
                $crate::declare::settings!(@secret $($secret)?)
                    == <$parser as $crate::declare::Parse>::SECRET,
                concat!(stringify!($name), " must be declared `secret` exactly when its value is"),
            );
        )*
    };
}

pub(crate) use settings;
