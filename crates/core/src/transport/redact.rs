//! Redaction of secrets from URLs and headers before they are logged or put in errors.

use url::Url;

/// What a redacted secret is replaced by.
pub const REDACTED: &str = "REDACTED";

/// Query parameters whose values are secrets on some vendor (Sama: `access_key`).
const SECRET_PARAMS: &[&str] = &[
    "access_key",
    "api_key",
    "apikey",
    "key",
    "token",
    "access_token",
    "secret",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    // Google Cloud Storage signed URLs (Labelbox exports and uploads).
    "x-goog-signature",
    "x-goog-credential",
    "sig",
    "password",
];

/// Whether a query parameter name carries a secret.
pub fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAMS.contains(&lower.as_str())
}

/// The URL as a string with secret query values and any user info (name and password: a key
/// may stand in either) replaced by `REDACTED`. Safe to log and to put in errors.
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() {
        let _ = u.set_username(REDACTED);
    }
    if u.password().is_some() {
        let _ = u.set_password(Some(REDACTED));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_param(&k) {
                    REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Redact a URL given as text. Text that does not parse as a URL (a malformed `--base-url`)
/// is redacted as well as can be: secret `name=value` pairs blanked, and everything from the
/// `//` (or the start) to the last `@` replaced, since user info (`user:key@host`) may hold any
/// character, `/` included, once the URL is malformed.
pub fn redact_url_str(text: &str) -> String {
    match Url::parse(text) {
        Ok(u) => redact_url(&u),
        Err(_) => redact_user_info(&redact_text(text)),
    }
}

/// Replace what stands between the `//` (or the start) and the last `@` by `REDACTED`.
fn redact_user_info(text: &str) -> String {
    let Some(at) = text.rfind('@') else {
        return text.to_owned();
    };
    let start = text[..at].find("//").map(|i| i + 2).unwrap_or(0);
    format!("{}{REDACTED}{}", &text[..start], &text[at..])
}

/// Every form a key takes on the wire, to scrub from text a server sends back: the key itself,
/// percent-encoded (query strings, form bodies), and base64 as HTTP Basic carries it (`key:`)
/// or alone. Forms shorter than 4 characters are left out (they would blank ordinary text).
pub fn secret_forms(key: &str) -> Vec<String> {
    use base64::Engine;
    if key.is_empty() {
        return Vec::new();
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut forms = vec![
        key.to_owned(),
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string(),
        url::form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>(),
        b64.encode(format!("{key}:")),
        b64.encode(key),
        base64::engine::general_purpose::URL_SAFE.encode(key),
    ];
    // base64 of `key:` may end in padding a server trims; match the unpadded stem too.
    forms.extend(
        forms
            .clone()
            .iter()
            .map(|f| f.trim_end_matches('=').to_owned()),
    );
    forms.retain(|f| f.len() >= 4);
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

/// Text from a server made safe to print: control characters (escape sequences, carriage
/// returns, line breaks that would forge `error:` lines) become spaces, then every form of the
/// secrets is blanked.
pub fn scrub_text(text: &str, secret_forms: &[String]) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    for form in secret_forms {
        if out.contains(form.as_str()) {
            out = out.replace(form.as_str(), REDACTED);
        }
    }
    out
}

/// Blank `name=value` pairs of secret parameters anywhere in free text.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for param in SECRET_PARAMS {
            let needle = format!("{param}=");
            if rest.len() >= needle.len()
                && rest.as_bytes()[..needle.len()].eq_ignore_ascii_case(needle.as_bytes())
                && !out
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                out.push_str(&rest[..needle.len()]);
                out.push_str(REDACTED);
                let after = &rest[needle.len()..];
                let end = after
                    .find(|c: char| c == '&' || c.is_whitespace() || c == '"' || c == ')')
                    .unwrap_or(after.len());
                rest = &after[end..];
                continue 'outer;
            }
        }
        let ch = rest.chars().next().expect("non-empty");
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_query_values_and_passwords() {
        let u = Url::parse(
            "https://user:pw@api.sama.com/v2/projects/1/tasks.json?access_key=CANARY&state=in+progress",
        )
        .unwrap();
        let r = redact_url(&u);
        assert!(!r.contains("CANARY") && !r.contains("pw@"), "{r}");
        assert!(
            r.contains("access_key=REDACTED") && r.contains("state=in+progress"),
            "{r}"
        );
    }

    #[test]
    fn scrubs_every_encoding_of_a_key_and_control_characters() {
        use base64::Engine;
        let key = "k3y/with+odd&chars";
        let forms = secret_forms(key);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
        let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        let text = format!(
            "raw {key} basic {basic} url {encoded} \u{1b}[2J\u{1b}]0;title\u{7}\nerror: forged"
        );
        let out = scrub_text(&text, &forms);
        assert!(
            !out.contains(key) && !out.contains(&basic) && !out.contains(&encoded),
            "{out}"
        );
        assert!(!out.chars().any(char::is_control), "{out:?}");
        assert!(out.contains(REDACTED));
        assert!(secret_forms("").is_empty());
    }

    #[test]
    fn malformed_urls_lose_their_user_info_and_keys() {
        for text in [
            "https://user:CANARY@[bad/v2",
            "http//user:CANARY@host/v2",
            "CANARY@host:99999",
            "https://h/x?access_key=CANARY&page=[",
            "ftp ://a:CANARY@b",
            "ftp://user:CANARY+k3y/9f=Q@files.example/v2",
        ] {
            let shown = redact_url_str(text);
            assert!(!shown.contains("CANARY"), "{text} → {shown}");
        }
        assert_eq!(
            redact_url_str("http//u:p@host/v2"),
            "http//REDACTED@host/v2"
        );
        assert_eq!(redact_url_str("not a url"), "not a url");
        assert_eq!(
            redact_url_str("https://CANARY@api.scale.com/v1"),
            "https://REDACTED@api.scale.com/v1"
        );
    }

    #[test]
    fn redacts_free_text() {
        let t = "error sending request for url (https://h/x.json?page=1&access_key=CANARY)";
        let r = redact_text(t);
        assert!(!r.contains("CANARY"), "{r}");
        assert!(r.contains("page=1&access_key=REDACTED)"), "{r}");
        assert_eq!(redact_text("monkey=1"), "monkey=1");
    }

    #[test]
    fn redacts_signed_storage_urls() {
        let u = Url::parse(
            "https://storage.googleapis.com/b/export.ndjson?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=CANARY1&X-Goog-Signature=CANARY2&X-Amz-Signature=CANARY3",
        )
        .unwrap();
        let r = redact_url(&u);
        assert!(!r.contains("CANARY"), "{r}");
        assert!(r.contains("X-Goog-Algorithm=GOOG4-RSA-SHA256"), "{r}");
    }
}
