//! URL redaction for errors, logs and traces: tokens sometimes travel in query strings, and
//! user info is a password.

use url::Url;

/// The URL as it may appear in an error or a log line: no user info, no fragment, and every
/// query value replaced by `redacted` (the keys stay, they help debugging).
///
/// ```
/// use rmm_sync::provider::http::redact_url;
/// let url = url::Url::parse("https://me:pw@h.example/api?token=abc&page=2#x").unwrap();
/// assert_eq!(redact_url(&url), "https://h.example/api?token=redacted&page=redacted");
/// ```
pub fn redact_url(url: &Url) -> String {
    let mut clean = url.clone();
    // Both setters only fail for URLs that cannot have credentials; nothing to strip then.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.set_fragment(None);
    if clean.query().is_some() {
        let keys: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        if keys.is_empty() {
            clean.set_query(None);
        } else {
            let mut pairs = clean.query_pairs_mut();
            pairs.clear();
            for k in &keys {
                pairs.append_pair(k, "redacted");
            }
        }
    }
    clean.to_string()
}

/// Redacts a URL given as text; text that is not a URL is replaced entirely (it might be a
/// relative `Location` carrying a token).
pub fn redact_url_str(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(u) => redact_url(&u),
        Err(_) => match Url::parse("http://relative.invalid").and_then(|b| b.join(raw)) {
            Ok(u) => {
                let full = redact_url(&u);
                full.trim_start_matches("http://relative.invalid")
                    .to_owned()
            }
            Err(_) => "<unparseable URL>".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_credentials_query_values_and_fragment() {
        let u = Url::parse("https://a:b@x.example:8443/p/q?session=s3cret#frag").unwrap();
        let r = redact_url(&u);
        assert_eq!(r, "https://x.example:8443/p/q?session=redacted");
        assert!(!r.contains("s3cret") && !r.contains("a:b"));
    }

    #[test]
    fn relative_locations_are_redacted_too() {
        assert_eq!(
            redact_url_str("/auth/login?next=%2F&token=t"),
            "/auth/login?next=redacted&token=redacted"
        );
        assert_eq!(redact_url_str("https://h/x"), "https://h/x");
    }
}
