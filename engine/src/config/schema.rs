//! The JSON Schema of the configuration, derived from the typed structs, and validation of a
//! parsed document against it with every error kept.

use jsonschema::error::ValidationErrorKind;
use schemars::JsonSchema;
use serde_json::Value;

use super::load::ConfigIssue;
use super::types::{
    Config, DURATION_PATTERN, HTTP_URL_PATTERN, SOCKET_ADDR_PATTERN, SYMBOL_PATTERN, WS_URL_PATTERN,
};

/// The JSON Schema (draft 2020-12) of `config/app.yml`.
pub fn json_schema() -> Value {
    schema_of::<Config>()
}

/// The JSON Schema of any configuration document type.
pub(crate) fn schema_of<T: JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

/// One schema violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaViolation {
    /// What is wrong, where.
    pub(crate) issue: ConfigIssue,
    /// JSON pointer of the mapping entry that holds the bad value (for an item of a list, the
    /// whole list): removing it leaves a document the schema accepts at that place.
    pub(crate) culprit: String,
}

/// Validates `document` against `schema`; returns one violation per problem, each with the
/// dotted key path of the value at fault.
///
/// Fails only when `schema` itself does not compile, which is a bug in this crate.
pub(crate) fn validate(schema: &Value, document: &Value) -> Result<Vec<SchemaViolation>, String> {
    let validator = jsonschema::validator_for(schema).map_err(|err| err.to_string())?;
    let mut violations = Vec::new();
    for error in validator.iter_errors(document) {
        let pointer = error.instance_path().as_str();
        let path = dotted_path(pointer);
        let culprit = entry_pointer(pointer);
        let mut push = |path: String, message: String, culprit: String| {
            violations.push(SchemaViolation {
                issue: ConfigIssue::new(path, message),
                culprit,
            });
        };
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    let key_pointer =
                        format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    push(join(&path, key), "unknown key".to_owned(), key_pointer);
                }
            }
            ValidationErrorKind::OneOfNotValid { context }
            | ValidationErrorKind::AnyOf { context } => {
                push(path, not_one_of(error.instance(), context), culprit);
            }
            ValidationErrorKind::Enum { options } => push(
                path,
                format!(
                    "{} is not one of {}",
                    error.instance(),
                    list_options(options)
                ),
                culprit,
            ),
            ValidationErrorKind::Pattern { pattern } => push(
                path,
                format!("{} is not {}", error.instance(), pattern_meaning(pattern)),
                culprit,
            ),
            ValidationErrorKind::Constant { expected_value } => push(
                path,
                format!("must be {expected_value}, got {}", error.instance()),
                culprit,
            ),
            _ => push(path, error.to_string(), culprit),
        }
    }
    Ok(violations)
}

/// `[1, 50, 200]` → `1, 50, 200`.
fn list_options(options: &Value) -> String {
    match options {
        Value::Array(items) => items
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// What a pattern of the configuration schema asks for, in words.
fn pattern_meaning(pattern: &str) -> String {
    let meaning = match pattern {
        DURATION_PATTERN => "a duration such as 250ms, 90s, 15m or 1h 30m",
        SOCKET_ADDR_PATTERN => "an address of the form IPv4:PORT or [IPv6]:PORT",
        SYMBOL_PATTERN => "a symbol of upper-case letters and digits such as BTCUSDT",
        HTTP_URL_PATTERN => "an http:// or https:// URL",
        WS_URL_PATTERN => "a ws:// or wss:// URL",
        feed::fixed::DECIMAL_PATTERN => "a decimal number",
        _ => return format!("of the form {pattern:?}"),
    };
    meaning.to_owned()
}

/// The pointer with trailing list indexes dropped: the mapping entry that holds the value.
fn entry_pointer(pointer: &str) -> String {
    let mut entry = pointer;
    while let Some((parent, last)) = entry.rsplit_once('/') {
        if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        entry = parent;
    }
    entry.to_owned()
}

/// The message for a value that matches none of an enum's variants (schemars writes documented
/// enum variants as a `oneOf` of constants).
fn not_one_of(instance: &Value, branches: &[Vec<jsonschema::ValidationError<'static>>]) -> String {
    let allowed: Vec<String> = branches
        .iter()
        .flatten()
        .filter_map(|error| match error.kind() {
            ValidationErrorKind::Constant { expected_value } => Some(expected_value.to_string()),
            ValidationErrorKind::Enum { options } => Some(options.to_string()),
            _ => None,
        })
        .collect();
    if allowed.is_empty() {
        format!("{instance} is not valid here")
    } else {
        format!("{instance} is not one of {}", allowed.join(", "))
    }
}

/// `/executor/sizing/leverage` → `executor.sizing.leverage`; `/engine/cold_cores/1` →
/// `engine.cold_cores[1]`.
pub(crate) fn dotted_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{segment}]"));
        } else {
            path = join(&path, &segment);
        }
    }
    path
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_are_blamed_on_their_list() {
        assert_eq!(entry_pointer("/engine/cold_cores/1"), "/engine/cold_cores");
        assert_eq!(entry_pointer("/engine/hot_core"), "/engine/hot_core");
        assert_eq!(entry_pointer(""), "");
    }

    #[test]
    fn pointers_become_dotted_paths() {
        assert_eq!(dotted_path(""), "");
        assert_eq!(
            dotted_path("/executor/sizing/leverage"),
            "executor.sizing.leverage"
        );
        assert_eq!(dotted_path("/engine/cold_cores/1"), "engine.cold_cores[1]");
        assert_eq!(dotted_path("/a~1b/c~0d"), "a/b.c~d");
    }

    #[test]
    fn the_schema_describes_every_section_and_rejects_unknown_keys() {
        let schema = json_schema();
        let properties = schema["properties"].as_object().unwrap();
        let sections: Vec<&str> = properties.keys().map(String::as_str).collect();
        assert_eq!(
            sections,
            [
                "exchange",
                "rollout",
                "rollout_guard",
                "risk",
                "executor",
                "signals",
                "labeling",
                "training",
                "canary",
                "ai_scorer",
                "strategy",
                "paper",
                "engine",
                "metrics",
                "paths"
            ]
        );
        assert_eq!(schema["additionalProperties"], Value::Bool(false));
    }
}
