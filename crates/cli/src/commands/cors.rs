//! `ossguard cors get|set|rm oss://bucket [FILE]`: rules as OSS XML or JSON.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ossguard_proto::xml::{CorsConfiguration, CorsRule};
use serde_json::{json, Value};

use super::Ctx;
use crate::error::CliError;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct CorsArgs {
    #[command(subcommand)]
    pub action: CorsAction,
}

#[derive(Subcommand, Debug)]
pub enum CorsAction {
    /// Print the bucket's CORS rules (XML; JSON with --json).
    Get { url: String },
    /// Replace the rules with those of FILE ('-': stdin): a <CORSConfiguration> document, or
    /// JSON such as {"CORSRule":[{"AllowedOrigin":["*"],"AllowedMethod":["GET"]}]}.
    Set { url: String, file: PathBuf },
    /// Remove every CORS rule.
    Rm { url: String },
}

/// Parses XML or (lenient) JSON CORS rules.
pub fn parse_rules(text: &str) -> Result<CorsConfiguration, String> {
    let t = text.trim_start_matches('\u{feff}').trim();
    let cfg = if t.starts_with('<') {
        ossguard_proto::xml::from_xml::<CorsConfiguration>(t.as_bytes())
            .map_err(|e| format!("not a CORSConfiguration XML document: {e}"))?
    } else {
        let v: Value = serde_json::from_str(t).map_err(|e| format!("neither XML nor JSON: {e}"))?;
        from_json(v)?
    };
    if cfg.rules.is_empty() {
        return Err("no CORS rule found (set at least one, or use cors rm)".into());
    }
    for (i, r) in cfg.rules.iter().enumerate() {
        if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
            return Err(format!(
                "rule {}: AllowedOrigin and AllowedMethod are required",
                i + 1
            ));
        }
    }
    Ok(cfg)
}

fn norm(k: &str) -> String {
    let k: String = k
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    // Singular and plural spellings are the same field.
    match k.as_str() {
        "maxageseconds" | "maxage" => k,
        _ => k.strip_suffix('s').map(str::to_owned).unwrap_or(k),
    }
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{field}: expected strings"))
            })
            .collect(),
        _ => Err(format!("{field}: expected a string or a list of strings")),
    }
}

fn rule(v: &Value) -> Result<CorsRule, String> {
    let Value::Object(m) = v else {
        return Err("a CORS rule must be an object".into());
    };
    let mut r = CorsRule::default();
    for (k, v) in m {
        match norm(k).as_str() {
            "allowedorigin" => r.allowed_origins = strings(v, k)?,
            "allowedmethod" => r.allowed_methods = strings(v, k)?,
            "allowedheader" => r.allowed_headers = strings(v, k)?,
            "exposeheader" => r.expose_headers = strings(v, k)?,
            "maxageseconds" | "maxage" => {
                r.max_age_seconds = Some(
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| format!("{k}: expected a number of seconds"))?,
                )
            }
            _ => return Err(format!("unknown CORS rule field {k:?}")),
        }
    }
    Ok(r)
}

fn from_json(v: Value) -> Result<CorsConfiguration, String> {
    let mut cfg = CorsConfiguration::default();
    match v {
        Value::Array(rules) => {
            cfg.rules = rules.iter().map(rule).collect::<Result<_, _>>()?;
        }
        Value::Object(m) => {
            let mut m = m;
            if let Some((_, inner)) = m
                .iter()
                .find(|(k, _)| norm(k) == "corsconfiguration")
                .map(|(k, v)| (k.clone(), v.clone()))
            {
                return from_json(inner);
            }
            let rules_key = m
                .keys()
                .find(|k| matches!(norm(k).as_str(), "corsrule" | "rule"))
                .cloned();
            match rules_key {
                Some(k) => {
                    let rules = m.remove(&k).unwrap_or(Value::Null);
                    cfg.rules = match rules {
                        Value::Array(a) => a.iter().map(rule).collect::<Result<_, _>>()?,
                        one => vec![rule(&one)?],
                    };
                    if let Some(k) = m.keys().find(|k| norm(k) == "responsevary").cloned() {
                        cfg.response_vary = m.remove(&k).and_then(|v| {
                            v.as_bool()
                                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        });
                    }
                }
                None => cfg.rules = vec![rule(&Value::Object(m))?],
            }
        }
        _ => return Err("expected a JSON object or array of CORS rules".into()),
    }
    Ok(cfg)
}

pub async fn run(a: CorsArgs, ctx: &Ctx) -> Result<(), CliError> {
    let out = &ctx.out;
    match a.action {
        CorsAction::Get { url } => {
            let u = OssUrl::parse_bucket(&url)?;
            let cfg = ctx.client()?.get_bucket_cors(&u.bucket).await?;
            if out.json {
                out.json(&json!({"bucket": u.bucket, "CORSConfiguration": cfg}));
            } else {
                match cfg {
                    Some(c) => out.line(ossguard_proto::xml::to_xml(&c)),
                    None => out.line("no CORS rules"),
                }
            }
        }
        CorsAction::Set { url, file } => {
            let u = OssUrl::parse_bucket(&url)?;
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
                    .map_err(|e| CliError::local("cannot read stdin", e))?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| CliError::local(format!("cannot read {}", file.display()), e))?
            };
            let cfg = parse_rules(&text)
                .map_err(|e| CliError::usage(format!("{}: {e}", file.display())))?;
            ctx.client()?.put_bucket_cors(&u.bucket, &cfg).await?;
            if out.json {
                out.json(&json!({"bucket": u.bucket, "rules": cfg.rules.len(), "set": true}));
            } else {
                out.info(format_args!(
                    "set {} CORS rules on oss://{}",
                    cfg.rules.len(),
                    u.bucket
                ));
            }
        }
        CorsAction::Rm { url } => {
            let u = OssUrl::parse_bucket(&url)?;
            ctx.client()?.delete_bucket_cors(&u.bucket).await?;
            if out.json {
                out.json(&json!({"bucket": u.bucket, "removed": true}));
            } else {
                out.info(format_args!("removed the CORS rules of oss://{}", u.bucket));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let xml = "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>10</MaxAgeSeconds></CORSRule></CORSConfiguration>";
        let a = parse_rules(xml).unwrap();
        assert_eq!(a.rules[0].allowed_origins, ["*"]);
        assert_eq!(a.rules[0].max_age_seconds, Some(10));
        for j in [
            r#"{"CORSRule":[{"AllowedOrigin":["*"],"AllowedMethod":["GET"],"MaxAgeSeconds":10}]}"#,
            r#"{"CORSConfiguration":{"CORSRule":{"AllowedOrigin":"*","AllowedMethod":"GET","MaxAgeSeconds":"10"}}}"#,
            r#"[{"allowed_origins":["*"],"allowed_methods":["GET"],"max_age_seconds":10}]"#,
        ] {
            assert_eq!(parse_rules(j).unwrap(), a, "{j}");
        }
        assert!(parse_rules(r#"{"CORSRule":[]}"#).is_err());
        assert!(parse_rules(r#"[{"AllowedOrigin":["*"]}]"#).is_err());
        assert!(parse_rules(r#"[{"Bogus":1}]"#).is_err());
        assert!(parse_rules("nonsense").is_err());
    }
}
