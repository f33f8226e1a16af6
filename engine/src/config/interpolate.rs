//! `${VAR}` and `${VAR:-default}` in configuration values.
//!
//! The rules are the shell's and docker compose's:
//! - `${VAR}` is the value of VAR; an unset VAR is an error;
//! - `${VAR:-default}` is the value of VAR, or `default` when VAR is unset or empty;
//! - `$$` is a literal `$`; any other `$` stays as it is.
//!
//! Interpolation applies to string values only (never to keys or comments). A value that
//! contained an expression is then read again as a YAML scalar, so `${LEVERAGE:-10}` is the
//! number 10 and `${TESTNET:-false}` the boolean false, as if the text had been written in place.

/// Why a value cannot be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// `${VAR}` without a default, and VAR is not set.
    #[error("${{{0}}} is not set and has no default (write ${{{0}:-default}} to give one)")]
    Unset(String),
    /// `${` without its closing `}`.
    #[error("unterminated ${{ in {0:?}")]
    Unterminated(String),
    /// A name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("invalid variable name {0:?}")]
    InvalidName(String),
}

/// Expands the expressions in `text`, looking variables up with `lookup`.
///
/// Returns `Ok(None)` when `text` holds no expression and no `$$`, so callers keep the original
/// value untouched.
pub fn interpolate_str(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, InterpolationError> {
    if !text.contains('$') {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut expanded = false;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            expanded = true;
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let close = body
                .find('}')
                .ok_or_else(|| InterpolationError::Unterminated(text.to_owned()))?;
            out.push_str(&expand(&body[..close], lookup)?);
            expanded = true;
            rest = &body[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(expanded.then_some(out))
}

/// Expands the inside of one `${...}`.
fn expand(
    expression: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let (name, default) = match expression.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (expression, None),
    };
    if !is_valid_name(name) {
        return Err(InterpolationError::InvalidName(name.to_owned()));
    }
    match (lookup(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_owned()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(InterpolationError::Unset(name.to_owned())),
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "EXCHANGE_MODE" => Some("real".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<Option<String>, InterpolationError> {
        interpolate_str(text, &env)
    }

    #[test]
    fn plain_text_is_left_alone() {
        assert_eq!(run("paper"), Ok(None));
        assert_eq!(run("costs $5"), Ok(None));
    }

    #[test]
    fn set_variables_win_over_defaults() {
        assert_eq!(run("${EXCHANGE_MODE:-paper}"), Ok(Some("real".to_owned())));
        assert_eq!(run("${EXCHANGE_MODE}"), Ok(Some("real".to_owned())));
    }

    #[test]
    fn unset_or_empty_variables_take_the_default() {
        assert_eq!(
            run("${EXCHANGE_VENUE:-bybit_v5}"),
            Ok(Some("bybit_v5".to_owned()))
        );
        assert_eq!(run("${EMPTY:-x}"), Ok(Some("x".to_owned())));
        assert_eq!(run("${EMPTY}"), Ok(Some(String::new())));
        assert_eq!(run("${NOPE:-}"), Ok(Some(String::new())));
    }

    #[test]
    fn expressions_mix_with_text() {
        assert_eq!(
            run("${HOST:-127.0.0.1}:${PORT:-9898}"),
            Ok(Some("127.0.0.1:9898".to_owned()))
        );
        assert_eq!(run("a$${b}"), Ok(Some("a${b}".to_owned())));
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            run("${NOPE}"),
            Err(InterpolationError::Unset("NOPE".to_owned()))
        );
        assert_eq!(
            run("${NOPE"),
            Err(InterpolationError::Unterminated("${NOPE".to_owned()))
        );
        assert_eq!(
            run("${1X:-a}"),
            Err(InterpolationError::InvalidName("1X".to_owned()))
        );
        assert_eq!(
            InterpolationError::Unset("API".to_owned()).to_string(),
            "${API} is not set and has no default (write ${API:-default} to give one)"
        );
    }
}
