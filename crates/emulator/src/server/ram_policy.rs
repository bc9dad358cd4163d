//! RAM policy documents, as STS `AssumeRole` takes them in its `Policy` parameter, and their
//! evaluation (sans-IO):
//!
//! ```json
//! {"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"],
//!   "Resource": ["acs:oss:*:*:bucket/prefix*"]}]}
//! ```
//!
//! Parsing is strict and fails closed: an unknown field, an unsupported condition, `NotAction`
//! or a malformed resource is an error naming what is wrong — a document is never read as
//! granting more than it says. Evaluation follows RAM: an explicit `Deny` wins, otherwise some
//! `Allow` must match, otherwise the request is implicitly denied.
//!
//! Supported `Condition` operators: `StringEquals`, `StringNotEquals`, `StringLike`,
//! `StringNotLike` on the keys `oss:Prefix` and `oss:Delimiter` (the ListObjects parameters).
//! A condition on a key the request does not carry does not match (`Not*` operators included),
//! so an `Allow` with such a condition grants nothing.
//!
//! The emulator has one account: the account segment of a resource ARN is not compared.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::keys::glob_match;

/// One parsed, validated policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    /// Lower-cased patterns (`oss:getobject`, `oss:*`, `*`): RAM actions ignore case.
    actions: Vec<String>,
    resources: Vec<ResourcePattern>,
    conditions: Vec<Condition>,
}

/// `acs:oss:<region>:<account>:<bucket>[/<key>]`, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResourcePattern {
    region: String,
    relative: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// The names RAM gives its operators.
#[allow(clippy::enum_variant_names)]
enum ConditionOp {
    StringEquals,
    StringNotEquals,
    StringLike,
    StringNotLike,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    op: ConditionOp,
    key: ConditionKey,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConditionKey {
    Prefix,
    Delimiter,
}

/// What a request asks for, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// `oss:GetObject`
    pub action: &'a str,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    /// The emulator's region id (`cn-hangzhou`).
    pub region: &'a str,
    /// `prefix` / `delimiter` query parameters of a listing.
    pub prefix: Option<&'a str>,
    pub delimiter: Option<&'a str>,
}

/// The outcome of evaluating one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// A `Deny` statement matched.
    ExplicitlyDenied,
    /// No `Allow` statement matched.
    NotAllowed,
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RAM policy document: {0}")]
pub struct PolicyError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(msg.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    #[serde(rename = "Version")]
    version: Option<String>,
    #[serde(rename = "Statement")]
    statement: Option<OneOrMany<RawStatement>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatement {
    #[serde(rename = "Effect")]
    effect: Option<String>,
    #[serde(rename = "Action")]
    action: Option<OneOrMany<String>>,
    #[serde(rename = "Resource")]
    resource: Option<OneOrMany<String>>,
    #[serde(rename = "Condition")]
    condition: Option<BTreeMap<String, BTreeMap<String, OneOrMany<String>>>>,
    #[serde(rename = "NotAction")]
    not_action: Option<Value>,
    #[serde(rename = "NotResource")]
    not_resource: Option<Value>,
    #[serde(rename = "Principal")]
    principal: Option<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

impl PolicyDocument {
    /// Parses a document given as a JSON value: an object, or a string holding one (the form
    /// the STS API takes).
    pub fn from_value(v: &Value) -> Result<Self, PolicyError> {
        match v {
            Value::String(s) => {
                let inner: Value = serde_json::from_str(s)
                    .map_err(|e| PolicyError(format!("the policy string is not JSON: {e}")))?;
                if inner.is_string() {
                    return err("the policy string holds another string, not a document");
                }
                Self::from_value(&inner)
            }
            Value::Object(_) => {
                let raw: RawDocument =
                    serde_json::from_value(v.clone()).map_err(|e| PolicyError(e.to_string()))?;
                Self::from_raw(raw)
            }
            _ => err("the policy must be a JSON object (or a string holding one)"),
        }
    }

    /// One `Allow` statement: the emulator's simple `actions`/`resources` form.
    pub fn allow(actions: &[String], resources: &[String]) -> Result<Self, PolicyError> {
        let raw = RawDocument {
            version: Some("1".into()),
            statement: Some(OneOrMany::One(RawStatement {
                effect: Some("Allow".into()),
                action: Some(OneOrMany::Many(actions.to_vec())),
                resource: Some(OneOrMany::Many(resources.to_vec())),
                condition: None,
                not_action: None,
                not_resource: None,
                principal: None,
            })),
        };
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawDocument) -> Result<Self, PolicyError> {
        match raw.version.as_deref() {
            Some("1") => {}
            Some(v) => return err(format!("Version must be \"1\", not {v:?}")),
            None => return err("Version is missing (it must be \"1\")"),
        }
        let Some(statements) = raw.statement else {
            return err("Statement is missing");
        };
        let statements = statements.into_vec();
        if statements.is_empty() {
            return err("Statement is empty");
        }
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                Statement::from_raw(s).map_err(|e| PolicyError(format!("Statement[{i}]: {}", e.0)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { statements })
    }

    /// Evaluates the document for one request: Deny wins, then Allow, else not allowed.
    pub fn evaluate(&self, ctx: &RequestContext<'_>) -> Verdict {
        let mut allowed = false;
        for s in &self.statements {
            if s.matches(ctx) {
                match s.effect {
                    Effect::Deny => return Verdict::ExplicitlyDenied,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Verdict::Allowed
        } else {
            Verdict::NotAllowed
        }
    }
}

impl Statement {
    fn from_raw(s: RawStatement) -> Result<Self, PolicyError> {
        if s.not_action.is_some() || s.not_resource.is_some() {
            return err("NotAction/NotResource are not supported here; list Action and Resource");
        }
        if s.principal.is_some() {
            return err("Principal belongs in a role's trust policy, not in an STS policy");
        }
        let effect = match s.effect.as_deref() {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            Some(e) => return err(format!("Effect must be \"Allow\" or \"Deny\", not {e:?}")),
            None => return err("Effect is missing"),
        };
        let actions = s
            .action
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .into_iter()
            .map(parse_action)
            .collect::<Result<Vec<_>, _>>()?;
        if actions.is_empty() {
            return err("Action is missing or empty");
        }
        let resources = s
            .resource
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .map(|r| ResourcePattern::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        if resources.is_empty() {
            return err("Resource is missing or empty");
        }
        let mut conditions = Vec::new();
        for (op, keys) in s.condition.unwrap_or_default() {
            let op = match op.as_str() {
                "StringEquals" => ConditionOp::StringEquals,
                "StringNotEquals" => ConditionOp::StringNotEquals,
                "StringLike" => ConditionOp::StringLike,
                "StringNotLike" => ConditionOp::StringNotLike,
                other => {
                    return err(format!(
                        "condition operator {other:?} is not supported (use StringEquals, \
                         StringNotEquals, StringLike or StringNotLike)"
                    ))
                }
            };
            for (key, values) in keys {
                let key = match key.to_ascii_lowercase().as_str() {
                    "oss:prefix" => ConditionKey::Prefix,
                    "oss:delimiter" => ConditionKey::Delimiter,
                    _ => {
                        return err(format!(
                        "condition key {key:?} is not supported (use oss:Prefix or oss:Delimiter)"
                    ))
                    }
                };
                let values = values.into_vec();
                if values.is_empty() {
                    return err(format!("condition {key:?} has no values"));
                }
                conditions.push(Condition { op, key, values });
            }
        }
        Ok(Self {
            effect,
            actions,
            resources,
            conditions,
        })
    }

    fn matches(&self, ctx: &RequestContext<'_>) -> bool {
        let action = ctx.action.to_ascii_lowercase();
        self.actions.iter().any(|a| glob_match(a, &action))
            && self.resources.iter().any(|r| r.matches(ctx))
            && self.conditions.iter().all(|c| c.matches(ctx))
    }
}

fn parse_action(a: String) -> Result<String, PolicyError> {
    let lower = a.to_ascii_lowercase();
    let ok = lower == "*"
        || lower.strip_prefix("oss:").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'*')
        });
    if ok {
        Ok(lower)
    } else {
        err(format!(
            "action {a:?} is not an OSS action (write oss:GetObject, oss:Get*, oss:* or *)"
        ))
    }
}

impl ResourcePattern {
    fn parse(r: &str) -> Result<Self, PolicyError> {
        if r == "*" {
            return Ok(Self {
                region: "*".into(),
                relative: "*".into(),
            });
        }
        let parts: Vec<&str> = r.splitn(5, ':').collect();
        match parts.as_slice() {
            ["acs", "oss", region, _account, relative] if !relative.is_empty() => Ok(Self {
                region: (*region).to_owned(),
                relative: (*relative).to_owned(),
            }),
            _ => err(format!(
                "resource {r:?} is not an OSS resource (write acs:oss:*:*:bucket/key-pattern or *)"
            )),
        }
    }

    fn matches(&self, ctx: &RequestContext<'_>) -> bool {
        let region_ok = self.region.is_empty()
            || glob_match(&self.region, ctx.region)
            || glob_match(&self.region, &format!("oss-{}", ctx.region));
        let target = match (ctx.bucket, ctx.key) {
            (None, _) => "*".to_owned(),
            (Some(b), None) => b.to_owned(),
            (Some(b), Some(k)) => format!("{b}/{k}"),
        };
        // A service-level request (ListBuckets) is on no bucket: only `*` covers it.
        let rel_ok = if ctx.bucket.is_none() {
            self.relative == "*"
        } else {
            glob_match(&self.relative, &target)
        };
        region_ok && rel_ok
    }
}

impl Condition {
    fn matches(&self, ctx: &RequestContext<'_>) -> bool {
        let value = match self.key {
            ConditionKey::Prefix => ctx.prefix,
            ConditionKey::Delimiter => ctx.delimiter,
        };
        let Some(value) = value else {
            return false;
        };
        let any = |f: &dyn Fn(&str) -> bool| self.values.iter().any(|v| f(v));
        match self.op {
            ConditionOp::StringEquals => any(&|v| v == value),
            ConditionOp::StringNotEquals => !any(&|v| v == value),
            ConditionOp::StringLike => any(&|v| glob_match(v, value)),
            ConditionOp::StringNotLike => !any(&|v| glob_match(v, value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx<'a>(
        action: &'a str,
        bucket: Option<&'a str>,
        key: Option<&'a str>,
    ) -> RequestContext<'a> {
        RequestContext {
            action,
            bucket,
            key,
            region: "cn-hangzhou",
            prefix: None,
            delimiter: None,
        }
    }

    fn read_prefix() -> PolicyDocument {
        PolicyDocument::from_value(&json!({
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"],
                           "Resource": ["acs:oss:*:*:b/prefix*"]}]
        }))
        .unwrap()
    }

    #[test]
    fn allow_is_limited_to_its_actions_and_resources() {
        let p = read_prefix();
        assert_eq!(
            p.evaluate(&ctx("oss:GetObject", Some("b"), Some("prefix/x"))),
            Verdict::Allowed
        );
        assert_eq!(
            p.evaluate(&ctx("oss:getobject", Some("b"), Some("prefix"))),
            Verdict::Allowed
        );
        assert_eq!(
            p.evaluate(&ctx("oss:PutObject", Some("b"), Some("prefix/x"))),
            Verdict::NotAllowed
        );
        assert_eq!(
            p.evaluate(&ctx("oss:GetObject", Some("b"), Some("other"))),
            Verdict::NotAllowed
        );
        assert_eq!(
            p.evaluate(&ctx("oss:GetObject", Some("bb"), Some("prefix/x"))),
            Verdict::NotAllowed
        );
        assert_eq!(
            p.evaluate(&ctx("oss:ListBuckets", None, None)),
            Verdict::NotAllowed
        );
    }

    #[test]
    fn deny_wins_over_allow() {
        let p = PolicyDocument::from_value(&json!({
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "oss:*", "Resource": "acs:oss:*:*:b/*"},
                {"Effect": "Deny", "Action": ["oss:PutObject", "oss:DeleteObject"],
                 "Resource": ["acs:oss:*:*:b/locked/*"]}
            ]
        }))
        .unwrap();
        assert_eq!(
            p.evaluate(&ctx("oss:PutObject", Some("b"), Some("open/x"))),
            Verdict::Allowed
        );
        assert_eq!(
            p.evaluate(&ctx("oss:PutObject", Some("b"), Some("locked/x"))),
            Verdict::ExplicitlyDenied
        );
        assert_eq!(
            p.evaluate(&ctx("oss:GetObject", Some("b"), Some("locked/x"))),
            Verdict::Allowed
        );
    }

    #[test]
    fn the_sts_string_form_is_accepted() {
        let doc = json!({"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": ["oss:GetObject"], "Resource": ["acs:oss:*:*:b/prefix*"]}]});
        let p = PolicyDocument::from_value(&Value::String(doc.to_string())).unwrap();
        assert_eq!(p, read_prefix());
    }

    #[test]
    fn anything_unknown_or_malformed_is_refused() {
        let base = |stmt: Value| json!({"Version": "1", "Statement": [stmt]});
        let cases = [
            json!({"Version": "1", "Statement": [], "Extra": 1}),
            json!({"Version": "2", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}]}),
            json!({"Version": "1"}),
            json!({"Version": "1", "Statement": []}),
            base(json!({"Effect": "allow", "Action": "oss:*", "Resource": "*"})),
            base(json!({"Action": "oss:*", "Resource": "*"})),
            base(json!({"Effect": "Allow", "Resource": "*"})),
            base(json!({"Effect": "Allow", "Action": [], "Resource": "*"})),
            base(json!({"Effect": "Allow", "Action": "oss:*"})),
            base(json!({"Effect": "Allow", "Action": "ecs:*", "Resource": "*"})),
            base(json!({"Effect": "Allow", "Action": "oss:Get?bject", "Resource": "*"})),
            base(json!({"Effect": "Allow", "Action": "oss:*", "Resource": "b/*"})),
            base(json!({"Effect": "Allow", "Action": "oss:*", "Resource": "acs:ecs:*:*:b/*"})),
            base(json!({"Effect": "Allow", "NotAction": "oss:*", "Resource": "*"})),
            base(json!({"Effect": "Allow", "Action": "oss:*", "Resource": "*", "Principal": "*"})),
            base(json!({"Effect": "Allow", "Action": "oss:*", "Resource": "*", "Sid": "x"})),
            base(
                json!({"Effect": "Allow", "Action": "oss:*", "Resource": "*",
                        "Condition": {"IpAddress": {"acs:SourceIp": "127.0.0.1"}}}),
            ),
            base(
                json!({"Effect": "Allow", "Action": "oss:*", "Resource": "*",
                        "Condition": {"StringLike": {"oss:Unknown": "x"}}}),
            ),
            json!([1, 2]),
            json!("not json {"),
            json!(42),
        ];
        for c in cases {
            let r = PolicyDocument::from_value(&c);
            assert!(r.is_err(), "accepted {c}");
        }
    }

    #[test]
    fn conditions_on_listing_prefix() {
        let p = PolicyDocument::from_value(&json!({
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "oss:ListObjects",
                "Resource": "acs:oss:*:*:b",
                "Condition": {"StringLike": {"oss:Prefix": ["home/*"]}}}]
        }))
        .unwrap();
        let mut c = ctx("oss:ListObjects", Some("b"), None);
        assert_eq!(
            p.evaluate(&c),
            Verdict::NotAllowed,
            "no prefix: condition fails closed"
        );
        c.prefix = Some("home/me/");
        assert_eq!(p.evaluate(&c), Verdict::Allowed);
        c.prefix = Some("etc/");
        assert_eq!(p.evaluate(&c), Verdict::NotAllowed);
    }

    #[test]
    fn region_segment_is_compared() {
        let p =
            PolicyDocument::from_value(&json!({"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": "oss:*", "Resource": "acs:oss:cn-beijing:*:b/*"}]}))
            .unwrap();
        assert_eq!(
            p.evaluate(&ctx("oss:GetObject", Some("b"), Some("k"))),
            Verdict::NotAllowed
        );
        let p =
            PolicyDocument::from_value(&json!({"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": "oss:*", "Resource": "acs:oss:oss-cn-hangzhou:1234:b/*"}]}))
            .unwrap();
        assert_eq!(
            p.evaluate(&ctx("oss:GetObject", Some("b"), Some("k"))),
            Verdict::Allowed
        );
    }
}
