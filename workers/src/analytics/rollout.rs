//! Feature flag evaluation, free of I/O: targeting rules, percentage rollouts by deterministic
//! hashing (stable per actor), multivariate variants and their JSON payloads.
//!
//! An actor is in a rollout of `p` % when `hash(flag key, actor) < p / 100`, where the hash maps
//! SHA-256 of `"{flag}.{actor}"` onto [0, 1): the same actor always gets the same answer, and
//! over many actors the share that gets the flag tends to `p` %. The variant is chosen by a
//! second, independent hash (`"{flag}.{actor}.variant"`) against the variants' cumulative weights,
//! so widening a rollout never moves an actor from one variant to another.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Most variants a flag may have.
pub const MAX_VARIANTS: usize = 20;
/// Most rules a flag may have.
pub const MAX_RULES: usize = 50;
/// Most conditions per rule.
pub const MAX_CONDITIONS: usize = 20;

/// A flag's variants, rules and payloads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagDefinition {
    /// Variants of a multivariate flag, with weights that sum to 100; empty for a boolean flag.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// Targeting rules, tried in order: the first whose conditions all hold decides, by its
    /// rollout percentage. No rules: everyone gets the flag.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// JSON payloads by variant key (`"true"` for a boolean flag).
    #[serde(default)]
    pub payloads: BTreeMap<String, Value>,
}

/// One variant of a multivariate flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Variant key, e.g. `control` or `test`.
    pub key: String,
    /// Share of the actors who get the flag, in percent.
    pub weight: f64,
}

/// A targeting rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Conditions that must all hold (none: every actor).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Share of the matching actors who get the flag, 0 to 100 (default 100).
    #[serde(default = "hundred")]
    pub rollout_percentage: f64,
    /// Forces this variant for the actors the rule admits.
    #[serde(default)]
    pub variant: Option<String>,
}

fn hundred() -> f64 {
    100.0
}

/// A test of one property of the evaluation context. Besides person properties, `distinct_id`
/// and `org_id` name the actor and the organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Property name.
    pub property: String,
    /// How to compare.
    pub operator: Operator,
    /// The value to compare with (a list for `in` / `not_in`; ignored by `is_set`).
    #[serde(default)]
    pub value: Value,
}

/// Comparison of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Equal (strings compare case-sensitively; numbers numerically).
    Exact,
    /// Not equal, or absent.
    IsNot,
    /// One of a list.
    In,
    /// None of a list, or absent.
    NotIn,
    /// A string containing the value.
    Contains,
    /// A number greater than the value.
    Gt,
    /// A number less than the value.
    Lt,
    /// Present and not null.
    IsSet,
}

/// What an evaluation knows about the actor.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The actor's distinct id (person or user id).
    pub distinct_id: String,
    /// The organisation evaluating.
    pub org_id: String,
    /// Person properties.
    pub properties: serde_json::Map<String, Value>,
}

/// The answer for one flag and one actor.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Evaluation {
    /// Flag key.
    pub key: String,
    /// Whether the actor gets the flag.
    pub enabled: bool,
    /// The actor's variant, for a multivariate flag they get.
    pub variant: Option<String>,
    /// The payload of that variant (or of `"true"`), if any.
    pub payload: Option<Value>,
    /// Why: `disabled`, `no_rule_matched`, `out_of_rollout`, `rule_match`.
    pub reason: &'static str,
    /// Index of the deciding rule.
    pub rule: Option<usize>,
}

/// Maps `"{flag}.{actor}{salt}"` onto [0, 1) through SHA-256 (the first 52 bits).
pub fn bucket(flag_key: &str, actor: &str, salt: &str) -> f64 {
    let mut hasher = Sha256::new();
    hasher.update(flag_key.as_bytes());
    hasher.update(b".");
    hasher.update(actor.as_bytes());
    hasher.update(salt.as_bytes());
    let digest = hasher.finalize();
    let mut top = [0u8; 8];
    top.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(top) >> 12) as f64 / (1u64 << 52) as f64
}

impl FlagDefinition {
    /// Checks the definition: variant keys unique and non-empty, weights summing to 100,
    /// percentages within 0 to 100, forced variants and payload keys existing.
    pub fn validate(&self) -> Result<(), String> {
        if self.variants.len() > MAX_VARIANTS {
            return Err(format!("at most {MAX_VARIANTS} variants"));
        }
        if self.rules.len() > MAX_RULES {
            return Err(format!("at most {MAX_RULES} rules"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for variant in &self.variants {
            if variant.key.is_empty() || variant.key.len() > 100 || variant.key == "true" {
                return Err("variant keys are 1 to 100 characters, and not \"true\"".into());
            }
            if !seen.insert(variant.key.as_str()) {
                return Err(format!("variant {:?} is listed twice", variant.key));
            }
            if !(0.0..=100.0).contains(&variant.weight) {
                return Err("variant weights are 0 to 100".into());
            }
        }
        if !self.variants.is_empty() {
            let total: f64 = self.variants.iter().map(|v| v.weight).sum();
            if (total - 100.0).abs() > 1e-6 {
                return Err(format!("variant weights must sum to 100, not {total}"));
            }
        }
        for (index, rule) in self.rules.iter().enumerate() {
            if !(0.0..=100.0).contains(&rule.rollout_percentage) {
                return Err(format!("rule {index}: rollout_percentage must be 0 to 100"));
            }
            if rule.conditions.len() > MAX_CONDITIONS {
                return Err(format!("rule {index}: at most {MAX_CONDITIONS} conditions"));
            }
            if let Some(variant) = &rule.variant {
                if !seen.contains(variant.as_str()) {
                    return Err(format!("rule {index}: unknown variant {variant:?}"));
                }
            }
            for condition in &rule.conditions {
                if condition.property.is_empty() || condition.property.len() > 200 {
                    return Err(format!(
                        "rule {index}: property names are 1 to 200 characters"
                    ));
                }
                let needs_list = matches!(condition.operator, Operator::In | Operator::NotIn);
                if needs_list && !condition.value.is_array() {
                    return Err(format!("rule {index}: in / not_in take a list"));
                }
            }
        }
        for key in self.payloads.keys() {
            let known = if self.variants.is_empty() {
                key == "true"
            } else {
                seen.contains(key.as_str())
            };
            if !known {
                return Err(format!(
                    "payload {key:?} names no variant (boolean flags use \"true\")"
                ));
            }
        }
        Ok(())
    }

    /// Evaluates the flag `key` (enabled or not) for `context`.
    pub fn evaluate(&self, key: &str, enabled: bool, context: &Context) -> Evaluation {
        let mut answer = Evaluation {
            key: key.to_string(),
            enabled: false,
            variant: None,
            payload: None,
            reason: "disabled",
            rule: None,
        };
        if !enabled {
            return answer;
        }
        let everyone = [Rule {
            conditions: Vec::new(),
            rollout_percentage: 100.0,
            variant: None,
        }];
        let rules: &[Rule] = if self.rules.is_empty() {
            &everyone
        } else {
            &self.rules
        };
        answer.reason = "no_rule_matched";
        let Some((index, rule)) = rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.conditions.iter().all(|c| c.holds(context)))
        else {
            return answer;
        };
        answer.rule = (!self.rules.is_empty()).then_some(index);
        if bucket(key, &context.distinct_id, "") >= rule.rollout_percentage / 100.0 {
            answer.reason = "out_of_rollout";
            return answer;
        }
        answer.enabled = true;
        answer.reason = "rule_match";
        answer.variant = match &rule.variant {
            Some(forced) => Some(forced.clone()),
            None => self.pick_variant(key, &context.distinct_id),
        };
        let payload_key = answer.variant.clone().unwrap_or_else(|| "true".to_string());
        answer.payload = self.payloads.get(&payload_key).cloned();
        answer
    }

    fn pick_variant(&self, key: &str, actor: &str) -> Option<String> {
        if self.variants.is_empty() {
            return None;
        }
        let point = bucket(key, actor, ".variant") * 100.0;
        let mut cumulative = 0.0;
        for variant in &self.variants {
            cumulative += variant.weight;
            if point < cumulative {
                return Some(variant.key.clone());
            }
        }
        self.variants.last().map(|v| v.key.clone())
    }
}

impl Condition {
    fn holds(&self, context: &Context) -> bool {
        let actual = match self.property.as_str() {
            "distinct_id" => Some(Value::String(context.distinct_id.clone())),
            "org_id" => Some(Value::String(context.org_id.clone())),
            name => context.properties.get(name).cloned(),
        };
        let actual = actual.filter(|v| !v.is_null());
        match self.operator {
            Operator::IsSet => actual.is_some(),
            Operator::Exact => actual.is_some_and(|a| same(&a, &self.value)),
            Operator::IsNot => !actual.is_some_and(|a| same(&a, &self.value)),
            Operator::In => actual.is_some_and(|a| {
                self.value
                    .as_array()
                    .is_some_and(|list| list.iter().any(|v| same(&a, v)))
            }),
            Operator::NotIn => !actual.is_some_and(|a| {
                self.value
                    .as_array()
                    .is_some_and(|list| list.iter().any(|v| same(&a, v)))
            }),
            Operator::Contains => match (actual, self.value.as_str()) {
                (Some(Value::String(a)), Some(needle)) => a.contains(needle),
                _ => false,
            },
            Operator::Gt => compare(actual.as_ref(), &self.value).is_some_and(|o| o.is_gt()),
            Operator::Lt => compare(actual.as_ref(), &self.value).is_some_and(|o| o.is_lt()),
        }
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn same(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            matches!((number(actual), number(expected)), (Some(a), Some(b)) if a == b)
        }
        _ => actual == expected,
    }
}

fn compare(actual: Option<&Value>, expected: &Value) -> Option<std::cmp::Ordering> {
    number(actual?)?.partial_cmp(&number(expected)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(actor: &str) -> Context {
        Context {
            distinct_id: actor.to_string(),
            org_id: "org_1".to_string(),
            properties: serde_json::Map::new(),
        }
    }

    fn rollout(percentage: f64) -> FlagDefinition {
        FlagDefinition {
            rules: vec![Rule {
                conditions: vec![],
                rollout_percentage: percentage,
                variant: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn rollout_is_within_two_percent_over_ten_thousand_actors() {
        for target in [5.0, 20.0, 33.0, 50.0, 90.0] {
            let flag = rollout(target);
            let on = (0..10_000)
                .filter(|i| {
                    flag.evaluate("new-timeline", true, &context(&format!("user-{i}")))
                        .enabled
                })
                .count();
            let share = on as f64 / 100.0;
            assert!(
                (share - target).abs() <= 2.0,
                "target {target} %, got {share} %"
            );
        }
    }

    #[test]
    fn rollout_is_stable_per_actor_and_monotonic() {
        let narrow = rollout(20.0);
        let wide = rollout(60.0);
        for i in 0..2_000 {
            let actor = context(&format!("actor-{i}"));
            let first = narrow.evaluate("beta", true, &actor);
            assert_eq!(first, narrow.evaluate("beta", true, &actor));
            // Widening a rollout keeps everyone who had it.
            if first.enabled {
                assert!(wide.evaluate("beta", true, &actor).enabled);
            }
        }
        // Different flags bucket the same actor independently.
        let a = (0..1_000)
            .filter(|i| bucket("a", &format!("u{i}"), "") < 0.5)
            .collect::<Vec<_>>();
        let b = (0..1_000)
            .filter(|i| bucket("b", &format!("u{i}"), "") < 0.5)
            .collect::<Vec<_>>();
        assert_ne!(a, b);
    }

    #[test]
    fn variants_follow_their_weights_and_carry_payloads() {
        let flag = FlagDefinition {
            variants: vec![
                Variant {
                    key: "control".into(),
                    weight: 70.0,
                },
                Variant {
                    key: "test".into(),
                    weight: 30.0,
                },
            ],
            rules: vec![],
            payloads: [("test".to_string(), json!({"color": "teal"}))].into(),
        };
        flag.validate().unwrap();
        let mut test = 0;
        for i in 0..10_000 {
            let answer = flag.evaluate("cta", true, &context(&format!("p{i}")));
            assert!(answer.enabled);
            if answer.variant.as_deref() == Some("test") {
                test += 1;
                assert_eq!(answer.payload, Some(json!({"color": "teal"})));
            } else {
                assert_eq!(answer.payload, None);
            }
        }
        assert!((test as f64 / 100.0 - 30.0).abs() <= 2.0, "{test}");
    }

    #[test]
    fn rules_target_by_org_user_and_properties() {
        let flag: FlagDefinition = serde_json::from_value(json!({
            "rules": [
                {"conditions": [{"property": "distinct_id", "operator": "in", "value": ["vip"]}]},
                {"conditions": [{"property": "plan", "operator": "exact", "value": "pro"},
                                {"property": "seats", "operator": "gt", "value": 5}]},
                {"conditions": [{"property": "org_id", "operator": "exact", "value": "org_beta"}], "rollout_percentage": 0}
            ]
        }))
        .unwrap();
        flag.validate().unwrap();
        assert!(flag.evaluate("f", true, &context("vip")).enabled);
        assert!(!flag.evaluate("f", false, &context("vip")).enabled);
        let mut pro = context("someone");
        pro.properties.insert("plan".into(), json!("pro"));
        pro.properties.insert("seats".into(), json!("9"));
        let answer = flag.evaluate("f", true, &pro);
        assert_eq!((answer.enabled, answer.rule), (true, Some(1)));
        pro.properties.insert("seats".into(), json!(2));
        assert_eq!(flag.evaluate("f", true, &pro).reason, "no_rule_matched");
        let mut beta = context("x");
        beta.org_id = "org_beta".into();
        assert_eq!(flag.evaluate("f", true, &beta).reason, "out_of_rollout");
    }

    #[test]
    fn invalid_definitions_are_refused() {
        let bad = [
            json!({"variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 40}]}),
            json!({"variants": [{"key": "a", "weight": 50}, {"key": "a", "weight": 50}]}),
            json!({"rules": [{"rollout_percentage": 120}]}),
            json!({"rules": [{"variant": "nope"}]}),
            json!({"payloads": {"x": 1}}),
            json!({"rules": [{"conditions": [{"property": "p", "operator": "in", "value": 3}]}]}),
        ];
        for definition in bad {
            let parsed: FlagDefinition = serde_json::from_value(definition.clone()).unwrap();
            assert!(parsed.validate().is_err(), "{definition}");
        }
    }
}
