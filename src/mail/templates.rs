//! The mails' text: a plain and an HTML part per kind, from templates
//! compiled into the binary or, with `--mail-templates DIR`, from that
//! folder (checked at start: every file present, UTF-8, only known
//! placeholders, a link where the mail carries one). A template is text
//! with `{{name}}`-style placeholders; the first line of the `.txt` file is
//! the subject. Values are HTML-escaped in the HTML part, so a user's name
//! can never add markup to a mail.

use std::collections::HashMap;
use std::path::Path;

use crate::store::mail::MailKind;

const KINDS: [MailKind; 3] = [
    MailKind::PasswordReset,
    MailKind::Verification,
    MailKind::EmailChanged,
];

const BUILT_IN: [(&str, &str); 6] = [
    (
        "password_reset.txt",
        include_str!("templates/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("templates/password_reset.html"),
    ),
    (
        "verification.txt",
        include_str!("templates/verification.txt"),
    ),
    (
        "verification.html",
        include_str!("templates/verification.html"),
    ),
    (
        "email_changed.txt",
        include_str!("templates/email_changed.txt"),
    ),
    (
        "email_changed.html",
        include_str!("templates/email_changed.html"),
    ),
];

/// The placeholders a kind's templates may use.
fn placeholders(kind: MailKind) -> &'static [&'static str] {
    match kind {
        MailKind::PasswordReset | MailKind::Verification => &["name", "email", "link", "ttl"],
        MailKind::EmailChanged => &["name", "email", "new_email"],
    }
}

/// A mail ready for the SMTP server.
#[derive(Debug)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The six templates, checked.
#[derive(Debug, Clone)]
pub struct Templates {
    files: HashMap<&'static str, String>,
}

impl Templates {
    pub fn built_in() -> Self {
        let files = BUILT_IN
            .iter()
            .map(|(name, text)| (*name, (*text).to_owned()))
            .collect();
        Self { files }
    }

    /// `--mail-templates DIR`: all six files, each checked; one line on
    /// the first problem.
    pub fn from_dir(dir: &Path) -> Result<Self, String> {
        let mut files = HashMap::new();
        for (name, _) in BUILT_IN {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("--mail-templates: cannot read {}: {e}", path.display()))?;
            files.insert(name, text);
        }
        let templates = Self { files };
        templates.check()?;
        Ok(templates)
    }

    fn check(&self) -> Result<(), String> {
        for kind in KINDS {
            let allowed = placeholders(kind);
            for ext in ["txt", "html"] {
                let name = format!("{}.{ext}", kind.as_str());
                let text = self.file(&name);
                for used in used_placeholders(text) {
                    if !allowed.contains(&used) {
                        return Err(format!(
                            "--mail-templates: {name} uses {{{{{used}}}}}; its placeholders are {}",
                            allowed.join(", ")
                        ));
                    }
                }
                if allowed.contains(&"link") && !text.contains("{{link}}") {
                    return Err(format!("--mail-templates: {name} has no {{{{link}}}}"));
                }
            }
            let txt = self.file(&format!("{}.txt", kind.as_str()));
            if txt.lines().next().is_none_or(|l| l.trim().is_empty()) {
                return Err(format!(
                    "--mail-templates: the first line of {}.txt (the subject) is empty",
                    kind.as_str()
                ));
            }
        }
        Ok(())
    }

    fn file(&self, name: &str) -> &str {
        self.files.get(name).map_or("", String::as_str)
    }

    /// The mail of `kind` with these values (`name` → value).
    pub fn render(&self, kind: MailKind, values: &[(&str, &str)]) -> Rendered {
        let txt = self.file(&format!("{}.txt", kind.as_str()));
        let (subject, body) = txt.split_once('\n').unwrap_or((txt, ""));
        let html = self.file(&format!("{}.html", kind.as_str()));
        Rendered {
            // A subject is one line: a value with a line break cannot add
            // a header.
            subject: fill(subject, values, |v| v.replace(['\r', '\n'], " ")),
            text: fill(body.trim_start_matches('\n'), values, str::to_owned),
            html: fill(html, values, escape_html),
        }
    }
}

fn used_placeholders(text: &str) -> Vec<&str> {
    let mut used = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                used.push(after[..end].trim());
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    used
}

fn fill(template: &str, values: &[(&str, &str)], encode: impl Fn(&str) -> String) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), &encode(value));
    }
    out
}

/// The five characters that matter in HTML text and attribute values.
pub fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_templates_pass_their_own_check() {
        Templates::built_in().check().unwrap();
    }

    #[test]
    fn values_are_escaped_in_html_and_kept_on_one_line_in_the_subject() {
        let mut t = Templates::built_in();
        t.files
            .insert("verification.txt", "Hi {{name}}\n{{link}}".into());
        let r = t.render(
            MailKind::Verification,
            &[
                ("name", "<b>Ada</b>\r\nBcc: x"),
                ("link", "https://x/?a=1&b=2"),
            ],
        );
        assert_eq!(r.subject, "Hi <b>Ada</b>  Bcc: x");
        assert!(r.html.contains("&lt;b&gt;Ada&lt;/b&gt;"));
        assert!(r.html.contains("https://x/?a=1&amp;b=2"));
        assert_eq!(r.text, "https://x/?a=1&b=2");
    }

    #[test]
    fn a_folder_with_an_unknown_placeholder_or_no_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in BUILT_IN {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Templates::from_dir(dir.path()).unwrap();
        std::fs::write(
            dir.path().join("verification.html"),
            "{{password}} {{link}}",
        )
        .unwrap();
        let e = Templates::from_dir(dir.path()).unwrap_err();
        assert!(e.contains("{{password}}"), "{e}");
        std::fs::write(dir.path().join("verification.html"), "no link").unwrap();
        assert!(Templates::from_dir(dir.path())
            .unwrap_err()
            .contains("no {{link}}"));
        std::fs::remove_file(dir.path().join("email_changed.txt")).unwrap();
        assert!(Templates::from_dir(dir.path()).is_err());
    }
}
