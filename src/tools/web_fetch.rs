//! `WebFetch`: a web page as markdown.
//!
//! http(s) only; at most [`MAX_BYTES`] downloaded and [`TIMEOUT`] spent. Redirects within
//! the same host are followed; a redirect to another host is reported, not followed, so the
//! model (and the permission rules) see where it leads. HTML becomes markdown (`htmd`,
//! scripts and styles dropped); text and JSON pass through. What is longer than the model's
//! share is cut, with the whole page spilled to a file. Pages are cached for 15 minutes.

use std::sync::OnceLock;
use std::time::Duration;

use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::bash::{MAX_OUTPUT_CHARS, truncate_middle};
use super::{Approval, Tool, ToolContext, ToolError, ToolKind, ToolOutput};

const MAX_BYTES: usize = 10 << 20;
const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_REDIRECTS: usize = 10;

#[derive(Default)]
pub struct WebFetch {
    client: OnceLock<reqwest::Client>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebFetchInput {
    /// The http or https URL to fetch.
    pub url: String,
    /// What you want from the page.
    pub prompt: String,
}

impl Tool for WebFetch {
    type Input = WebFetchInput;
    const NAME: &'static str = "WebFetch";
    const DESCRIPTION: &'static str = include_str!("../../tools/WebFetch.md");
    const KIND: ToolKind = ToolKind::ReadOnly;
    /// Reading the web is reading, but it sends data out: the user decides.
    const APPROVAL: Approval = Approval::Needed;

    async fn call(&self, input: WebFetchInput, ctx: ToolContext) -> Result<ToolOutput, ToolError> {
        let url = reqwest::Url::parse(input.url.trim())
            .map_err(|e| ToolError::Failed(format!("{:?} is not a valid URL: {e}", input.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ToolError::Failed(format!("Only http and https URLs can be fetched, not {}:", url.scheme())));
        }
        // The gate compared spellings; a deny rule's domain is refused at any address it has.
        if let Some(denial) = denied_address(&url, ctx.session.denied_domains()).await {
            return Err(ToolError::Failed(format!("{url} is not fetched: {denial}.")));
        }
        let page = match ctx.session.cached_page(url.as_str()) {
            Some(page) => page,
            None => {
                let client = self.client()?;
                let page = tokio::select! {
                    page = fetch(client, &url) => page?,
                    () = ctx.cancel.cancelled() => return Err(ToolError::Interrupted),
                };
                ctx.session.cache_page(url.as_str(), &page);
                page
            }
        };
        let mut text = page.clone();
        let mut spilled = None;
        if page.chars().count() > MAX_OUTPUT_CHARS {
            let path = ctx.session.spill_path(&ctx.call_id, ".md");
            let saved = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&path, ctx.session.secrets.redact(&page).as_bytes()));
            text = truncate_middle(&page, MAX_OUTPUT_CHARS);
            if saved.is_ok() {
                text.push_str(&format!("\n(The whole page is in {}; Read or Grep it for the rest.)", path.display()));
                spilled = Some(path);
            }
        }
        Ok(ToolOutput::text(text)
            .with_structured(json!({"url": url.as_str(), "bytes": page.len(), "savedTo": spilled})))
    }
}

impl WebFetch {
    fn client(&self) -> Result<&reqwest::Client, ToolError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let tls =
            crate::provider::tls::client_config().map_err(|e| ToolError::Failed(format!("TLS setup failed: {e}")))?;
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same_host = attempt.previous().first().map(|first| first.host_str()) == Some(attempt.url().host_str());
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if same_host {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(policy)
            .timeout(TIMEOUT)
            .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION"), " (WebFetch)"))
            .build()
            .map_err(|e| ToolError::Failed(format!("Could not set up the HTTP client: {e}")))?;
        Ok(self.client.get_or_init(|| client))
    }
}

/// How long a name lookup for the address check may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The deny rule whose domain has an address `url`'s host has too (`localhost` and
/// `127.0.0.1`, a name and the address it points to), if one does.
async fn denied_address(url: &reqwest::Url, domains: Vec<(String, String)>) -> Option<String> {
    if domains.is_empty() {
        return None;
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let host = crate::permissions::canonical_host(url)?;
    let ours = addresses(&host, port).await;
    for (domain, rule) in domains {
        if domain.starts_with("*.") {
            continue;
        }
        let theirs = addresses(&domain, port).await;
        if ours.iter().any(|a| theirs.contains(a)) {
            return Some(rule);
        }
    }
    None
}

/// A host's addresses, IPv4-mapped IPv6 ones as IPv4 (none if it cannot be looked up).
async fn addresses(host: &str, port: u16) -> Vec<std::net::IpAddr> {
    let canonical = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    };
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return vec![canonical(ip)];
    }
    match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(found)) => found.map(|a| canonical(a.ip())).collect(),
        _ => Vec::new(),
    }
}

/// Downloads the page and turns it into text for the model.
async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Result<String, ToolError> {
    let response = client.get(url.clone()).send().await.map_err(|e| {
        let kind = if e.is_timeout() { "timed out" } else { "failed" };
        ToolError::Failed(format!("Fetching {url} {kind}: {}", crate::provider::sse::transport_error(e)))
    })?;
    let status = response.status();
    if status.is_redirection() {
        let location = response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("(no location)");
        let target = url.join(location).map_or_else(|_| location.to_owned(), |u| u.to_string());
        return Ok(format!(
            "REDIRECT: {url} redirects to another host: {target}\nIt was not followed. If that is the page you \
             want, call WebFetch again with that URL."
        ));
    }
    let final_url = response.url().clone();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain")
        .to_ascii_lowercase();
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ToolError::Failed(format!("Reading {url} failed: {e}")))?;
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(ToolError::Failed(format!(
                "{url} is larger than {} MB; fetch something smaller.",
                MAX_BYTES >> 20
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&body);
    let is_html = content_type.contains("html");
    let is_text = is_html
        || content_type.starts_with("text/")
        || ["json", "xml", "javascript", "yaml", "toml"].iter().any(|t| content_type.contains(t));
    if !is_text {
        return Err(ToolError::Failed(format!(
            "{url} is {content_type}, not text; WebFetch reads pages and text files."
        )));
    }
    let content = if is_html { html_to_markdown(&text) } else { text.into_owned() };
    if !status.is_success() {
        return Err(ToolError::Failed(format!(
            "{final_url} answered HTTP {status}.\n{}",
            content.chars().take(2000).collect::<String>()
        )));
    }
    Ok(format!("Content of {final_url} ({content_type}):\n\n{}", content.trim()))
}

fn html_to_markdown(html: &str) -> String {
    let converter =
        htmd::HtmlToMarkdown::builder().skip_tags(vec!["script", "style", "noscript", "svg", "head"]).build();
    converter.convert(html).unwrap_or_else(|_| html.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_markdown_without_scripts() {
        let md = html_to_markdown(
            "<html><head><title>t</title><style>p{}</style></head><body><h1>Hi</h1><script>evil()</script>\
             <p>Some <a href=\"/x\">link</a>.</p><ul><li>one</li></ul></body></html>",
        );
        assert!(md.contains("# Hi"), "{md}");
        assert!(md.contains("[link](/x)"), "{md}");
        assert!(md.contains("one"), "{md}");
        assert!(!md.contains("evil") && !md.contains("p{}"), "{md}");
    }
}
