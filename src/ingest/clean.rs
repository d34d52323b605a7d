//! Text as shops export it: HTML-escaped, sometimes with markup. Every importer that reads
//! names, brands or category labels from a non-RDF source passes them through [`clean_text`],
//! so `L&#39;Oreal Paris` is stored as `L'Oreal Paris` whichever importer read it.

/// Decodes one level of HTML entities, drops markup and collapses whitespace; `None` when
/// nothing is left. A name escaped twice (`&amp;amp;`) keeps one level, which `kgrec check`
/// reports: decoding more would change names that really contain `&amp;`.
pub fn clean_text(raw: &str) -> Option<String> {
    let decoded = html_escape::decode_html_entities(raw);
    let mut out = String::with_capacity(decoded.len());
    let mut in_tag = false;
    for ch in decoded.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(ch),
            _ => {}
        }
    }
    let text = out.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cleaned() {
        assert_eq!(
            clean_text("Tom &amp; Jerry&#39;s").as_deref(),
            Some("Tom & Jerry's")
        );
        assert_eq!(
            clean_text("<span class=\"a-size-medium a-color-secondary\""),
            None
        );
        assert_eq!(
            clean_text("<b>Bold</b>  text\n").as_deref(),
            Some("Bold text")
        );
        assert_eq!(
            clean_text("L&amp;amp;Oreal").as_deref(),
            Some("L&amp;Oreal")
        );
        assert_eq!(clean_text("  "), None);
    }
}
