//! Template expressions in step inputs: `{{trigger.asset_id}}`, `{{steps.thumb.output.asset_id}}`,
//! `{{item}}`, `{{run.id}}`.
//!
//! Deliberately small and safe: an expression is a dotted path into the run's scope (object
//! keys and array indices), nothing is evaluated. A string that is exactly one expression takes
//! the value's JSON type (`"{{trigger.tags}}"` becomes an array); inside longer text the value is
//! written as text. A path that leads nowhere is `null` (or empty text).

use serde_json::Value;

/// Longest text a rendered string may reach.
const MAX_RENDERED: usize = 16 * 1024;

/// The expressions (`trigger.asset_id`) of every `{{…}}` in `text`, trimmed.
pub fn expressions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push(after.trim().to_string());
            break;
        };
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

/// Whether `text` has an opening `{{` without its `}}`.
pub fn unbalanced(text: &str) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        match rest[start + 2..].find("}}") {
            Some(end) => rest = &rest[start + 2 + end + 2..],
            None => return true,
        }
    }
    false
}

/// Every string inside `value`, for validation.
pub fn strings(value: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    collect(value, &mut out);
    out
}

fn collect<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect(item, out)),
        Value::Object(map) => map.iter().for_each(|(_, item)| collect(item, out)),
        _ => {}
    }
}

/// Follows a dotted path (`steps.thumb.output.asset_id`) into `scope`.
pub fn lookup<'a>(scope: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = scope;
    for segment in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// `value` with every template string rendered against `scope`.
pub fn render(value: &Value, scope: &Value) -> Value {
    match value {
        Value::String(text) => render_text(text, scope),
        Value::Array(items) => Value::Array(items.iter().map(|v| render(v, scope)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| (key.clone(), render(v, scope)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn render_text(text: &str, scope: &Value) -> Value {
    if !text.contains("{{") {
        return Value::String(text.to_string());
    }
    let trimmed = text.trim();
    if trimmed.starts_with("{{") && trimmed.ends_with("}}") && expressions(trimmed).len() == 1 {
        let path = trimmed[2..trimmed.len() - 2].trim();
        return lookup(scope, path).cloned().unwrap_or(Value::Null);
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        match lookup(scope, after[..end].trim()) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
        if out.len() > MAX_RENDERED {
            break;
        }
    }
    out.push_str(rest);
    out.truncate(floor_char_boundary(&out, MAX_RENDERED));
    Value::String(out)
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut index = max;
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_expressions_keep_their_type_and_text_interpolates() {
        let scope = json!({
            "trigger": {"asset_id": "ast_1", "tags": ["a", "b"], "n": 3},
            "steps": {"thumb": {"output": {"asset_id": "ast_2"}}},
        });
        let input = json!({
            "id": "{{ trigger.asset_id }}",
            "tags": "{{trigger.tags}}",
            "first": "{{trigger.tags.0}}",
            "text": "made {{steps.thumb.output.asset_id}} from {{trigger.asset_id}} ({{trigger.n}})",
            "missing": "{{trigger.nope}}",
            "missing_text": "x{{trigger.nope}}y",
            "plain": 7,
        });
        assert_eq!(
            render(&input, &scope),
            json!({
                "id": "ast_1",
                "tags": ["a", "b"],
                "first": "a",
                "text": "made ast_2 from ast_1 (3)",
                "missing": null,
                "missing_text": "xy",
                "plain": 7,
            })
        );
    }

    #[test]
    fn expressions_are_listed_and_unclosed_ones_found() {
        assert_eq!(
            expressions("a {{ trigger.x }} b {{steps.s.output}}"),
            vec!["trigger.x".to_string(), "steps.s.output".to_string()]
        );
        assert!(unbalanced("{{trigger.x"));
        assert!(!unbalanced("{{trigger.x}} and {{run.id}}"));
    }
}
