//! Parsing of the `Authorization` header, tolerant of the layouts the SDKs emit.

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// `OSS AK:SIG`
    V1 {
        access_key_id: String,
        signature: String,
    },
    /// `OSS4-HMAC-SHA256 Credential=AK/day/region/product/aliyun_v4_request[,AdditionalHeaders=a;b],Signature=hex`
    V4 {
        access_key_id: String,
        day: String,
        region: String,
        product: String,
        /// As listed in the header (the signer signed this exact list).
        additional_headers: Vec<String>,
        signature: String,
    },
}

/// What is wrong with an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Authorization header: {0}")]
pub struct MalformedAuthorization(pub &'static str);

/// Parses a V4 `Credential` value into (AK, day, region, product).
pub fn parse_credential(
    cred: &str,
) -> Result<(String, String, String, String), MalformedAuthorization> {
    // The AK itself never contains '/', so split from the right to be safe with odd AKs.
    let parts: Vec<&str> = cred.rsplitn(5, '/').collect();
    match parts.as_slice() {
        [term, product, region, day, ak]
            if *term == "aliyun_v4_request"
                && !ak.is_empty()
                && day.len() == 8
                && day.bytes().all(|b| b.is_ascii_digit())
                && !region.is_empty()
                && !product.is_empty() =>
        {
            Ok((
                (*ak).to_owned(),
                (*day).to_owned(),
                (*region).to_owned(),
                (*product).to_owned(),
            ))
        }
        _ => Err(MalformedAuthorization(
            "Credential must be AccessKeyId/yyyymmdd/region/oss/aliyun_v4_request",
        )),
    }
}

/// Parses `Authorization`. V4 fields may come in any order, with or without spaces after commas.
pub fn parse(value: &str) -> Result<Authorization, MalformedAuthorization> {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix("OSS4-HMAC-SHA256") {
        let (mut cred, mut add, mut sig) = (None, None, None);
        for field in rest.split(',') {
            let field = field.trim();
            if field.is_empty() {
                continue;
            }
            let (k, v) = field
                .split_once('=')
                .ok_or(MalformedAuthorization("V4 field without '='"))?;
            let slot = match k.trim() {
                "Credential" => &mut cred,
                "AdditionalHeaders" => &mut add,
                "Signature" => &mut sig,
                _ => return Err(MalformedAuthorization("unknown V4 field")),
            };
            if slot.replace(v.trim()).is_some() {
                return Err(MalformedAuthorization("repeated V4 field"));
            }
        }
        let (access_key_id, day, region, product) =
            parse_credential(cred.ok_or(MalformedAuthorization("V4 without Credential"))?)?;
        let signature = sig.ok_or(MalformedAuthorization("V4 without Signature"))?;
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MalformedAuthorization("V4 Signature must be 64 hex digits"));
        }
        let additional_headers = add
            .map(|a| {
                a.split(';')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        return Ok(Authorization::V4 {
            access_key_id,
            day,
            region,
            product,
            additional_headers,
            signature: signature.to_owned(),
        });
    }
    if let Some(rest) = value.strip_prefix("OSS ") {
        let (ak, sig) = rest.trim().rsplit_once(':').ok_or(MalformedAuthorization(
            "V1 must be 'OSS AccessKeyId:Signature'",
        ))?;
        if ak.is_empty() || sig.is_empty() {
            return Err(MalformedAuthorization(
                "V1 must be 'OSS AccessKeyId:Signature'",
            ));
        }
        return Ok(Authorization::V1 {
            access_key_id: ak.to_owned(),
            signature: sig.to_owned(),
        });
    }
    Err(MalformedAuthorization(
        "unknown scheme (expected 'OSS' or 'OSS4-HMAC-SHA256')",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "b81be7be235e080a497725b3618453418112391b167b99e1ed6196b7c1b337b7";

    #[test]
    fn both_v4_layouts() {
        let a = format!("OSS4-HMAC-SHA256 Credential=AK/20221228/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=host;range,Signature={SIG}");
        let b = format!("OSS4-HMAC-SHA256 Credential=AK/20221228/cn-hangzhou/oss/aliyun_v4_request, Signature={SIG}, AdditionalHeaders=host;range");
        assert_eq!(parse(&a).unwrap(), parse(&b).unwrap());
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "OSS",
            "OSS :",
            "OSS ak",
            "Bearer x",
            "OSS4-HMAC-SHA256 Credential=AK/2022/cn/oss/aliyun_v4_request,Signature=00",
            "OSS4-HMAC-SHA256 Signature=00",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
