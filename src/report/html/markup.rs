//! Small pieces of HTML: escaping, numbers as table cells, and tables.

use std::fmt::Write;

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with `decimals` decimals; a dash where it is undefined.
pub fn number(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else if v.is_nan() {
        "–".into()
    } else if v > 0.0 {
        "∞".into()
    } else {
        "−∞".into()
    }
}

/// A fraction as a percentage with `decimals` decimals.
pub fn percent(v: f64, decimals: usize) -> String {
    if v.is_finite() { format!("{:.decimals$}%", 100.0 * v) } else { number(v, decimals) }
}

/// A cell of a table: text (left-aligned) or a number (right-aligned).
pub enum Cell {
    Text(String),
    Number(String),
    /// HTML already escaped (e.g. a link).
    Html(String),
    /// A number as HTML already escaped (e.g. shaded).
    NumberHtml(String),
}

impl Cell {
    pub fn text(t: impl Into<String>) -> Self {
        Cell::Text(t.into())
    }

    pub fn num(t: impl Into<String>) -> Self {
        Cell::Number(t.into())
    }
}

/// An HTML table with a header row (none when `header` is empty); `class` names it for the stylesheet and for tests. Rows
/// whose class is given get it (e.g. the agent's row, emphasized).
pub fn table(class: &str, header: &[&str], rows: &[(Option<&str>, Vec<Cell>)]) -> String {
    let mut out = format!("<div class=\"scroll\"><table class=\"{class}\">\n");
    if !header.is_empty() {
        out.push_str("<thead><tr>");
        // A column of numbers gets a right-aligned heading, one of text a left-aligned one.
        let numeric = |k: usize| {
            rows.first()
                .is_some_and(|(_, cells)| matches!(cells.get(k), Some(Cell::Number(_) | Cell::NumberHtml(_))))
        };
        for (k, h) in header.iter().enumerate() {
            let align = if k > 0 && numeric(k) { " class=\"num\"" } else { "" };
            let _ = write!(out, "<th scope=\"col\"{align}>{}</th>", escape(h));
        }
        out.push_str("</tr></thead>\n");
    }
    out.push_str("<tbody>\n");
    for (class, cells) in rows {
        match class {
            Some(c) => {
                let _ = write!(out, "<tr class=\"{c}\">");
            }
            None => out.push_str("<tr>"),
        }
        for (k, cell) in cells.iter().enumerate() {
            let tag = if k == 0 { "th scope=\"row\"" } else { "td" };
            let close = if k == 0 { "th" } else { "td" };
            let _ = match cell {
                Cell::Text(t) => write!(out, "<{tag}>{}</{close}>", escape(t)),
                Cell::Html(h) => write!(out, "<{tag}>{h}</{close}>"),
                Cell::NumberHtml(h) => write!(out, "<{tag} class=\"num\">{h}</{close}>"),
                Cell::Number(n) => write!(out, "<{tag} class=\"num\">{}</{close}>", escape(n)),
            };
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_escape_text_and_right_align_numbers() {
        let html =
            table("t", &["policy", "Sharpe"], &[(Some("agent"), vec![Cell::text("a<b"), Cell::num("0.50")])]);
        assert!(html.contains("<th scope=\"row\">a&lt;b</th><td class=\"num\">0.50</td>"), "{html}");
        assert!(
            html.contains("<tr class=\"agent\">")
                && html.contains("<th scope=\"col\" class=\"num\">Sharpe</th>")
        );
        assert_eq!(
            (number(f64::NAN, 2), number(f64::INFINITY, 2), percent(0.1234, 1)),
            ("–".into(), "∞".into(), "12.3%".into())
        );
    }
}
