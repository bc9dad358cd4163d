//! `ossguard stat`: an object's metadata (HEAD), or a bucket's information.

use clap::Args;
use serde_json::{json, Value};

use super::Ctx;
use crate::error::CliError;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct StatArgs {
    /// oss://bucket/key, or oss://bucket for the bucket.
    pub url: String,
}

fn print(ctx: &Ctx, v: Value) {
    if ctx.out.json {
        ctx.out.json(&v);
        return;
    }
    let Value::Object(m) = v else { return };
    let width = m.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in m {
        match v {
            Value::Null => {}
            Value::Object(inner) => {
                for (mk, mv) in inner {
                    let s = mv
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| mv.to_string());
                    ctx.out
                        .line(format_args!("{:<width$}  {s}", format!("{k}.{mk}")));
                }
            }
            Value::String(s) => ctx.out.line(format_args!("{k:<width$}  {s}")),
            other => ctx.out.line(format_args!("{k:<width$}  {other}")),
        }
    }
}

pub async fn run(a: StatArgs, ctx: &Ctx) -> Result<(), CliError> {
    let u = OssUrl::parse(&a.url)?;
    let client = ctx.client()?;
    if u.key.is_empty() {
        let info = client.get_bucket_info(&u.bucket).await?.bucket;
        print(
            ctx,
            json!({
                "bucket": info.name,
                "location": info.location,
                "creation_date": info.creation_date,
                "storage_class": info.storage_class,
                "acl": info.access_control_list.grant,
                "extranet_endpoint": info.extranet_endpoint,
                "intranet_endpoint": info.intranet_endpoint,
            }),
        );
        return Ok(());
    }
    let m = client.head_object(&u.bucket, &u.key).await?;
    print(
        ctx,
        json!({
            "bucket": u.bucket,
            "key": u.key,
            "size": m.size,
            "etag": m.etag,
            "last_modified": m.last_modified.map(ossguard_proto::time::iso8601_millis),
            "content_type": m.content_type,
            // A string: JSON numbers lose precision past 2^53.
            "crc64": m.crc64.map(|c| c.to_string()),
            "object_type": m.object_type,
            "storage_class": m.storage_class,
            "metadata": m.metadata,
            "request_id": m.request_id,
        }),
    );
    Ok(())
}
