//! Text hygiene: names, brands, descriptions and category labels with HTML entities or
//! markup, control characters, mojibake (UTF-8 read as Latin-1 or Windows-1252), and product
//! names that are empty or in capitals only.

use super::catalogue::Catalogue;
use super::findings::{Finding, IssueKind, Severity};

/// A problem in one piece of text, with what the text should probably read.
#[derive(Clone, Debug, PartialEq)]
pub struct TextProblem {
    /// The kind.
    pub kind: IssueKind,
    /// What was seen (the entity, the tag, the garbled run).
    pub seen: String,
    /// The text repaired, when a repair is certain.
    pub repaired: Option<String>,
}

/// Finds HTML entities, markup, control characters and mojibake in `text`.
pub fn problems(text: &str) -> Vec<TextProblem> {
    let mut out = Vec::new();
    if let Some(seen) = first_entity(text) {
        let decoded = html_escape::decode_html_entities(text).into_owned();
        out.push(TextProblem {
            kind: IssueKind::HtmlEntity,
            seen,
            repaired: Some(decoded),
        });
    }
    if let Some(seen) = first_tag(text) {
        out.push(TextProblem {
            kind: IssueKind::Markup,
            seen,
            repaired: None,
        });
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        out.push(TextProblem {
            kind: IssueKind::ControlCharacter,
            seen: format!("U+{:04X}", c as u32),
            repaired: Some(text.chars().filter(|c| !c.is_control()).collect()),
        });
    }
    if let Some((seen, repaired)) = mojibake(text) {
        out.push(TextProblem {
            kind: IssueKind::Mojibake,
            seen,
            repaired: Some(repaired),
        });
    }
    out
}

/// `text` with every certain repair made (entities decoded, control characters dropped,
/// mojibake undone), each on the previous one's result; `None` when none applies.
pub fn repaired(text: &str) -> Option<String> {
    let mut at = text.to_owned();
    // A repair can reveal another (a decoded `&amp;amp;`); the cap only guards a loop.
    for _ in 0..8 {
        match problems(&at).into_iter().find_map(|p| p.repaired) {
            Some(next) if next != at => at = next,
            _ => break,
        }
    }
    (at != text).then_some(at)
}

/// The first `&name;`, `&#123;` or `&#x1F;` that decodes to something else.
fn first_entity(text: &str) -> Option<String> {
    text.match_indices('&').find_map(|(start, _)| {
        let rest = &text[start + 1..];
        let end = rest
            .char_indices()
            .take(12)
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '#'));
        let Some((k, ';')) = end.filter(|(k, _)| *k > 0) else {
            return None;
        };
        let candidate = &text[start..start + k + 2];
        (html_escape::decode_html_entities(candidate) != candidate).then(|| candidate.to_owned())
    })
}

/// The first `<tag …>` or `</tag>` (a letter or `/` right after `<`, a `>` later).
fn first_tag(text: &str) -> Option<String> {
    text.match_indices('<').find_map(|(start, _)| {
        let rest = &text[start + 1..];
        let starts_tag = rest
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        let close = rest
            .find('>')
            .filter(|&close| !rest[..close].contains('<'))?;
        starts_tag.then(|| text[start..start + close + 2].chars().take(40).collect())
    })
}

/// Windows-1252's characters for bytes 0x80–0x9F (0 where the byte is undefined).
const CP1252_HIGH: [char; 32] = [
    '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\0', 'Ž', '\0', '\0', '‘',
    '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\0', 'ž', 'Ÿ',
];

/// The byte Latin-1 or Windows-1252 shows as `c`, if any.
fn single_byte(c: char) -> Option<u8> {
    let code = c as u32;
    if code < 0x80 || (0xA0..=0xFF).contains(&code) || (0x80..0xA0).contains(&code) {
        return Some(code as u8);
    }
    CP1252_HIGH
        .iter()
        .position(|&h| h == c && h != '\0')
        .map(|p| 0x80 + p as u8)
}

/// UTF-8 shown through a single-byte code page: each run of non-ASCII characters whose bytes
/// in Latin-1/Windows-1252 form valid multi-byte UTF-8 is read again. Returns the first
/// garbled run and the repaired text; `None` when no run decodes (so `é` or `ü` alone, which
/// are fine, are never flagged).
pub fn mojibake(text: &str) -> Option<(String, String)> {
    let mut repaired = String::with_capacity(text.len());
    let mut first: Option<String> = None;
    let chars: Vec<char> = text.chars().collect();
    let mut k = 0;
    while k < chars.len() {
        if chars[k].is_ascii() {
            repaired.push(chars[k]);
            k += 1;
            continue;
        }
        let start = k;
        while k < chars.len() && !chars[k].is_ascii() {
            k += 1;
        }
        let run: String = chars[start..k].iter().collect();
        let bytes: Option<Vec<u8>> = chars[start..k].iter().map(|&c| single_byte(c)).collect();
        match bytes.and_then(|b| String::from_utf8(b).ok()) {
            Some(decoded) if decoded.chars().count() < run.chars().count() => {
                first.get_or_insert(run);
                repaired.push_str(&decoded);
            }
            _ => repaired.push_str(&run),
        }
    }
    first.map(|f| (f, repaired))
}

/// Whether a product name is in capitals only: at least 8 letters and no lowercase one.
pub fn all_caps(name: &str) -> bool {
    let letters = name.chars().filter(|c| c.is_alphabetic()).count();
    letters >= 8 && !name.chars().any(char::is_lowercase)
}

fn finding(
    kind: IssueKind,
    severity: Severity,
    focus: &str,
    what: &str,
    problem: &TextProblem,
    text: &str,
) -> Finding {
    let reason = match &problem.repaired {
        Some(r) => format!(
            "{what} has {} {}: \"{}\" (probably \"{}\")",
            article(kind),
            kind.as_str(),
            clip(text),
            clip(r)
        ),
        None => format!(
            "{what} has {} {}: \"{}\"",
            article(kind),
            kind.as_str(),
            clip(text)
        ),
    };
    let mut f = Finding::new(kind, severity, focus, reason, 1.0)
        .with("field", what)
        .with("seen", problem.seen.clone())
        .with("text", text);
    if let Some(r) = &problem.repaired {
        f = f.with("repaired", r.clone());
    }
    f
}

fn article(kind: IssueKind) -> &'static str {
    match kind {
        IssueKind::HtmlEntity => "an",
        _ => "a",
    }
}

/// The first 120 characters of `s`.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(120).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Checks every product name and description, brand name and category label.
pub fn check(catalogue: &Catalogue) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut texts: Vec<(&str, &str, &str, Severity)> = Vec::new();
    for p in &catalogue.products {
        if let Some(name) = &p.name {
            texts.push((&p.iri, "name", name, Severity::Warning));
        }
        if let Some(d) = &p.description {
            texts.push((&p.iri, "description", d, Severity::Info));
        }
    }
    for b in &catalogue.brands {
        if let Some(l) = &b.label {
            texts.push((&b.iri, "brand name", l, Severity::Warning));
        }
    }
    for c in &catalogue.categories {
        if let Some(l) = &c.label {
            texts.push((&c.iri, "category label", l, Severity::Warning));
        }
    }
    for (focus, what, text, severity) in texts {
        for problem in problems(text) {
            out.push(finding(problem.kind, severity, focus, what, &problem, text));
        }
    }
    for p in &catalogue.products {
        match p.name.as_deref() {
            Some(name) if name.trim().is_empty() => out.push(Finding::new(
                IssueKind::EmptyName,
                Severity::Error,
                &p.iri,
                "name is empty".into(),
                1.0,
            )),
            Some(name) if all_caps(name) => out.push(
                Finding::new(
                    IssueKind::AllCaps,
                    Severity::Info,
                    &p.iri,
                    format!("name is in capitals only: \"{}\"", clip(name)),
                    1.0,
                )
                .with("text", name),
            ),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<IssueKind> {
        problems(text).into_iter().map(|p| p.kind).collect()
    }

    #[test]
    fn finds_each_problem_and_nothing_in_clean_text() {
        assert_eq!(kinds("L&#39;Oreal Paris"), [IssueKind::HtmlEntity]);
        assert_eq!(kinds("Bath &amp; Body"), [IssueKind::HtmlEntity]);
        assert_eq!(kinds("Bath & Body; AT&T"), []);
        assert_eq!(kinds("Soft <b>matte</b> lipstick"), [IssueKind::Markup]);
        assert_eq!(kinds("Size < 5 oz > 2 oz"), []);
        assert_eq!(kinds("Cr\u{0007}me"), [IssueKind::ControlCharacter]);
        assert_eq!(kinds("CrÃ¨me BrÃ»lÃ©e"), [IssueKind::Mojibake]);
        assert_eq!(kinds("Crème Brûlée, Dr. Bronner’s"), []);
        assert_eq!(kinds("L’Oréal"), []);
        assert_eq!(kinds("Dr. Bronnerâ€™s Soap"), [IssueKind::Mojibake]);
    }

    #[test]
    fn every_certain_repair_is_made_in_turn() {
        assert_eq!(
            repaired("Tuscan&amp;nbsp;Blood\u{7}").as_deref(),
            Some("Tuscan\u{a0}Blood")
        );
        assert_eq!(repaired("Crème <b>Brûlée</b>"), None);
    }

    #[test]
    fn mojibake_is_repaired() {
        let (seen, repaired) = mojibake("CrÃ¨me BrÃ»lÃ©e").unwrap();
        assert_eq!(seen, "Ã¨");
        assert_eq!(repaired, "Crème Brûlée");
        assert_eq!(mojibake("Dr. Bronnerâ€™s").unwrap().1, "Dr. Bronner’s");
    }

    #[test]
    fn capitals_only() {
        assert!(all_caps("OPI NAIL LACQUER RED"));
        assert!(!all_caps("OPI Nail Lacquer"));
        assert!(!all_caps("OPI 5ML"));
    }
}
