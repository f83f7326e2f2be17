//! Schema validation of `metadata.xml` against [`crate::schema`], reporting each problem as
//! Apple's Transporter does (forum post 11): `Line L column C: <message> at XPath /a/b`, where
//! L:C is the position just past the tag the problem is found at (the start tag for an element
//! out of place, the end tag for an incomplete one) and the messages are those of the RELAX NG
//! validator (Jing) Apple runs: "not allowed here", "not allowed anywhere", "not allowed yet",
//! "incomplete; missing required element(s)", "incomplete; expected element".
//!
//! Recovery follows the same validator: an element out of place is checked against the
//! definition its name has elsewhere in the schema; a name the schema does not know is not
//! checked inside. Post 11 shows that an "incomplete" error at the end tag of an element inside
//! such a recovered subtree carries no XPath (`element "read_only_info" incomplete; missing
//! required element "read_only_value"` has none) while one in a valid place does
//! (`element "data_file" incomplete; … at XPath /package/software_assets/asset/data_file`).

use crate::schema::{self, Element, Text};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// One problem: its position and message (without the `ERROR ITMS-3000` wrapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub xpath: Option<String>,
}

impl Problem {
    /// The text inside Apple's `ERROR ITMS-3000: "…"`.
    pub fn text(&self) -> String {
        let at = self
            .xpath
            .as_ref()
            .map(|x| format!(" at XPath {x}"))
            .unwrap_or_default();
        format!(
            "Line {} column {}: {}{at}",
            self.line, self.column, self.message
        )
    }
}

/// What the walk found: the problems, and the `vendor_id` when it stands in its place.
#[derive(Debug, Default)]
pub struct Checked {
    pub problems: Vec<Problem>,
    pub vendor_id: Option<String>,
    /// File references (`data_file`, `software_screenshot`, `review_screenshot`) in order.
    pub files: Vec<FileRef>,
    /// The attributes of `software_assets` (`apple_id`, `app_platform`, `bundle_version`, …).
    pub software_assets: Vec<(String, String)>,
    /// The `type` of the `asset` being read (given to its `data_file`s).
    asset_type: Option<String>,
}

impl Checked {
    /// An attribute of `software_assets`.
    pub fn software_asset(&self, name: &str) -> Option<&str> {
        self.software_assets
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A file the metadata says the package carries.
#[derive(Debug, Default, Clone)]
pub struct FileRef {
    pub xpath: String,
    pub file_name: Option<String>,
    pub size: Option<String>,
    pub checksum: Option<String>,
    /// The `type` of the `asset` a `data_file` belongs to (`bundle`, `product-archive`, …).
    pub asset_type: Option<String>,
}

struct Frame {
    def: Option<&'static Element>,
    name: String,
    xpath: String,
    /// Occurrences per slot of `def.children`.
    counts: Vec<usize>,
    /// Index of the current slot (sequences only).
    at: usize,
    /// This element or an ancestor was out of place.
    recovered: bool,
    text: String,
}

impl Frame {
    fn new(def: Option<&'static Element>, name: &str, xpath: String, recovered: bool) -> Frame {
        Frame {
            def,
            name: name.to_string(),
            xpath,
            counts: vec![0; def.map_or(0, |d| d.children.len())],
            at: 0,
            recovered,
            text: String::new(),
        }
    }

    fn checked(&self) -> Option<&'static Element> {
        self.def.filter(|d| !d.open)
    }
}

/// Line and column of byte offsets met in increasing order (the reader's positions), counted
/// from where the last one left off so a large file is read once.
struct Positions<'s> {
    source: &'s str,
    offset: usize,
    line: usize,
    /// 1-based column of the character at `offset`.
    column: usize,
}

impl Positions<'_> {
    /// 1-based line and column of the character at byte `offset` (the column just past a tag).
    fn at(&mut self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        if offset > self.offset {
            let gap = &self.source[self.offset..offset];
            match gap.rfind('\n') {
                Some(i) => {
                    self.line += gap.matches('\n').count();
                    self.column = gap[i + 1..].chars().count() + 1;
                }
                None => self.column += gap.chars().count(),
            }
            self.offset = offset;
        }
        (self.line, self.column)
    }
}

/// `"a"`, `"a" and "b"`, `"a", "b" and "c"` (or with `or`), sorted as the validator lists them.
pub fn quoted_list(names: &[&str], conjunction: &str) -> String {
    let mut names: Vec<&str> = names.to_vec();
    names.sort_unstable();
    names.dedup();
    let q: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    match q.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {conjunction} {last}", rest.join(", ")),
    }
}

/// The slots still open at the frame's position: (names that may come next, end allowed).
fn expected(def: &Element, f: &Frame) -> (Vec<&'static str>, bool) {
    let mut names = Vec::new();
    let slots = def.children.iter().enumerate();
    for (i, s) in slots.skip(if def.interleave { 0 } else { f.at }) {
        if f.counts[i] < s.occurs.max() {
            names.extend(s.choices.iter().map(|c| schema::name_of(c)));
        }
        if f.counts[i] < s.occurs.min() && !def.interleave {
            return (names, false);
        }
    }
    let complete = def
        .children
        .iter()
        .enumerate()
        .all(|(i, s)| f.counts[i] >= s.occurs.min());
    (names, complete)
}

/// `expected the element end-tag or element "a" or "b"` and its variants.
fn expecting(names: &[&str], end_allowed: bool) -> String {
    match (names.is_empty(), end_allowed) {
        (true, _) => "the element end-tag".into(),
        (false, true) => format!(
            "the element end-tag or element {}",
            quoted_list(names, "or")
        ),
        (false, false) => format!("element {}", quoted_list(names, "or")),
    }
}

/// The required slots not yet satisfied, from the frame's position.
fn missing(def: &Element, f: &Frame) -> Vec<&'static schema::Slot> {
    def.children
        .iter()
        .enumerate()
        .skip(if def.interleave { 0 } else { f.at })
        .filter(|(i, s)| f.counts[*i] < s.occurs.min())
        .map(|(_, s)| s)
        .collect()
}

/// Where a child named `name` fits in the parent's content model from its position.
enum Fit {
    /// Slot index.
    Here(usize),
    /// Allowed after the required slots listed, which are missing.
    Yet(usize, Vec<&'static str>),
    No,
}

fn fit(def: &Element, f: &Frame, name: &str) -> Fit {
    let takes = |i: usize| {
        def.children[i]
            .choices
            .iter()
            .any(|c| schema::name_of(c) == name)
    };
    if def.interleave {
        return (0..def.children.len())
            .find(|&i| takes(i) && f.counts[i] < def.children[i].occurs.max())
            .map_or(Fit::No, Fit::Here);
    }
    let mut skipped_required = Vec::new();
    for i in f.at..def.children.len() {
        let s = &def.children[i];
        if takes(i) && f.counts[i] < s.occurs.max() {
            return match skipped_required.is_empty() {
                true => Fit::Here(i),
                false => Fit::Yet(i, skipped_required),
            };
        }
        if f.counts[i] < s.occurs.min() {
            skipped_required.extend(s.choices.iter().map(|c| schema::name_of(c)));
        }
    }
    Fit::No
}

/// Walks `metadata.xml`, checking it against the schema.
pub fn check(source: &str) -> Checked {
    let mut out = Checked::default();
    let mut reader = NsReader::from_str(source);
    let mut positions = Positions {
        source,
        offset: 0,
        line: 1,
        column: 1,
    };
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let event = reader.read_resolved_event().map(|(ns, e)| {
            let apple = schema::NAMESPACE.as_bytes();
            (
                matches!(ns, ResolveResult::Bound(n) if n.as_ref() == apple),
                e,
            )
        });
        let pos = positions.at(reader.buffer_position() as usize);
        let (in_apple_ns, event) = match event {
            Ok(e) => e,
            Err(e) => {
                out.problems.push(well_formedness(pos, &e));
                return out;
            }
        };
        match event {
            Event::Start(e) => start(&mut out, &mut stack, &e, in_apple_ns, pos),
            Event::Empty(e) => {
                start(&mut out, &mut stack, &e, in_apple_ns, pos);
                end(&mut out, &mut stack, pos);
            }
            Event::End(_) => end(&mut out, &mut stack, pos),
            Event::Text(t) => {
                let t = t.xml_content().unwrap_or_default();
                if let Some(f) = stack.last_mut() {
                    text_here(&mut out, f, &t, pos);
                    f.text.push_str(&t);
                }
            }
            Event::CData(t) => {
                if let Some(f) = stack.last_mut() {
                    f.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(f) = stack.last_mut() {
                    f.text
                        .push_str(&format!("&{};", String::from_utf8_lossy(&r)));
                }
            }
            Event::Eof => {
                if !stack.is_empty() {
                    out.problems.push(Problem {
                        line: pos.0,
                        column: pos.1,
                        message:
                            "XML document structures must start and end within the same entity."
                                .into(),
                        xpath: None,
                    });
                }
                return out;
            }
            _ => {}
        }
    }
}

/// A file that is not well-formed XML: the XML parser's (Xerces) messages for the common
/// cases, else the reader's own description.
fn well_formedness((line, column): (usize, usize), e: &quick_xml::Error) -> Problem {
    use quick_xml::errors::{Error, IllFormedError};
    let message = match e {
        Error::IllFormed(IllFormedError::MismatchedEndTag { expected, .. }) => format!(
            "The element type \"{expected}\" must be terminated by the matching end-tag \"</{expected}>\"."
        ),
        Error::IllFormed(IllFormedError::UnmatchedEndTag(_)) => {
            "The markup in the document following the root element must be well-formed.".into()
        }
        other => format!("The document is not well-formed XML: {other}."),
    };
    Problem {
        line,
        column,
        message,
        xpath: None,
    }
}

fn start(
    out: &mut Checked,
    stack: &mut Vec<Frame>,
    e: &BytesStart,
    in_apple_ns: bool,
    (line, column): (usize, usize),
) {
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let xpath = format!("{}/{name}", stack.last().map_or("", |f| f.xpath.as_str()));
    let mut report = |message: String, xpath: &str| {
        out.problems.push(Problem {
            line,
            column,
            message,
            xpath: Some(xpath.to_string()),
        })
    };
    let (def, recovered) = match stack.last_mut() {
        None => {
            let root = schema::by_id(schema::ROOT);
            if name != schema::ROOT || !in_apple_ns {
                report(
                    format!(
                        "element \"{name}\" not allowed here; expected element \"{}\" (with xmlns=\"{}\")",
                        schema::ROOT,
                        schema::NAMESPACE
                    ),
                    &xpath,
                );
                stack.push(Frame::new(None, &name, xpath, true));
                return;
            }
            (root, false)
        }
        Some(parent) => match parent.checked() {
            None => (None, parent.recovered),
            Some(pdef) => match fit(pdef, parent, &name) {
                Fit::Here(i) => {
                    if !pdef.interleave {
                        parent.at = i;
                    }
                    parent.counts[i] += 1;
                    let id = pdef.children[i]
                        .choices
                        .iter()
                        .find(|c| schema::name_of(c) == name)
                        .copied()
                        .unwrap_or_default();
                    (schema::by_id(id), parent.recovered)
                }
                Fit::Yet(i, missing) => {
                    report(
                        format!(
                            "element \"{name}\" not allowed yet; missing required element{} {}",
                            if missing.len() > 1 { "s" } else { "" },
                            quoted_list(&missing, "and")
                        ),
                        &xpath,
                    );
                    parent.at = i;
                    parent.counts[i] += 1;
                    (schema::by_name(&name), parent.recovered)
                }
                Fit::No => {
                    let (names, end_ok) = expected(pdef, parent);
                    let known = schema::by_name(&name);
                    let place = if known.is_some() { "here" } else { "anywhere" };
                    report(
                        format!(
                            "element \"{name}\" not allowed {place}; expected {}",
                            expecting(&names, end_ok)
                        ),
                        &xpath,
                    );
                    (known, true)
                }
            },
        },
    };
    if let Some(d) = def {
        for problem in attributes(d, e) {
            report(problem, &xpath);
        }
    }
    match def.map(|d| d.id).filter(|_| !recovered) {
        Some("software_assets") => out.software_assets = attribute_values(e),
        Some("asset") => {
            out.asset_type = attribute_values(e)
                .into_iter()
                .find(|(k, _)| k == "type")
                .map(|(_, v)| v);
        }
        Some(id) if FILE_REFERENCES.contains(&id) => out.files.push(FileRef {
            xpath: xpath.clone(),
            asset_type: (id == "data_file")
                .then(|| out.asset_type.clone())
                .flatten(),
            ..FileRef::default()
        }),
        _ => {}
    }
    stack.push(Frame::new(def, &name, xpath, recovered));
}

/// The elements that name a file of the package with its size and checksum.
const FILE_REFERENCES: &[&str] = &["data_file", "software_screenshot", "review_screenshot"];

/// A start tag's attributes (namespace declarations left out), values unescaped.
fn attribute_values(e: &BytesStart) -> Vec<(String, String)> {
    e.attributes()
        .flatten()
        .map(|a| {
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a.unescape_value().map(|v| v.into_owned());
            (key, value.unwrap_or_default())
        })
        .filter(|(k, _)| k != "xmlns" && !k.starts_with("xmlns:"))
        .collect()
}

/// The attribute problems of a start tag, in Jing's words.
fn attributes(def: &Element, e: &BytesStart) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for a in e.attributes().flatten() {
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = a
            .unescape_value()
            .map(|v| v.into_owned())
            .unwrap_or_default();
        match def.attrs.iter().find(|d| d.name == key) {
            None if def.attrs.is_empty() => {
                problems.push(format!(
                    "found attribute \"{key}\", but no attributes allowed here"
                ));
            }
            None => {
                let names: Vec<&str> = def.attrs.iter().map(|d| d.name).collect();
                problems.push(format!(
                    "attribute \"{key}\" not allowed here; expected attribute {}",
                    quoted_list(&names, "or")
                ));
            }
            Some(d) => {
                if !schema::value_matches(d.values, &value) {
                    problems.push(format!(
                        "value of attribute \"{key}\" is invalid; must be {}",
                        must_be(d.values)
                    ));
                }
                seen.push(d.name);
            }
        }
    }
    let missing: Vec<&str> = def
        .attrs
        .iter()
        .filter(|d| d.required && !seen.contains(&d.name))
        .map(|d| d.name)
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "element \"{}\" missing required attribute{} {}",
            def.name,
            if missing.len() > 1 { "s" } else { "" },
            quoted_list(&missing, "and")
        ));
    }
    problems
}

fn must_be(values: &[&str]) -> String {
    match values {
        [p] if p.starts_with('^') => format!(
            "a string matching the regular expression \"{}[0-9]+\"",
            p[1..].replace('.', "\\.")
        ),
        _ => format!("equal to {}", quoted_list(values, "or")),
    }
}

/// Text inside element-only content, reported where the text ends (the validator sees it
/// before the next tag), with what the element expects at that point.
fn text_here(out: &mut Checked, f: &Frame, text: &str, (line, column): (usize, usize)) {
    let Some(def) = f.checked().filter(|d| d.text == Text::None) else {
        return;
    };
    if text.trim().is_empty() {
        return;
    }
    let (names, end_ok) = expected(def, f);
    out.problems.push(Problem {
        line,
        column,
        message: format!(
            "text not allowed here; expected {}",
            expecting(&names, end_ok)
        ),
        xpath: (!f.recovered).then(|| f.xpath.clone()),
    });
}

fn end(out: &mut Checked, stack: &mut Vec<Frame>, (line, column): (usize, usize)) {
    let Some(f) = stack.pop() else { return };
    let xpath = (!f.recovered).then(|| f.xpath.clone());
    let mut report = |message: String| {
        out.problems.push(Problem {
            line,
            column,
            message,
            xpath: xpath.clone(),
        })
    };
    let text = f.text.trim();
    if let Some(def) = f.checked() {
        let missing = missing(def, &f);
        if missing.iter().all(|s| s.choices.len() == 1) && !missing.is_empty() {
            let names: Vec<&str> = missing
                .iter()
                .map(|s| schema::name_of(s.choices[0]))
                .collect();
            report(format!(
                "element \"{}\" incomplete; missing required element{} {}",
                f.name,
                if names.len() > 1 { "s" } else { "" },
                quoted_list(&names, "and")
            ));
        } else if let Some(first) = missing.first() {
            let names: Vec<&str> = first.choices.iter().map(|c| schema::name_of(c)).collect();
            report(format!(
                "element \"{}\" incomplete; expected element {}",
                f.name,
                quoted_list(&names, "or")
            ));
        }
        match def.text {
            Text::Integer if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) => {
                report(format!(
                    "character content of element \"{}\" invalid; must be an integer",
                    f.name
                ));
            }
            Text::Boolean if !matches!(text, "true" | "false") => {
                report(format!(
                    "character content of element \"{}\" invalid; must be equal to \"false\" or \"true\"",
                    f.name
                ));
            }
            _ => {}
        }
    }
    note(out, stack, &f, text);
}

/// Keeps what the asset checks and the summary need: the vendor id and the file references.
fn note(out: &mut Checked, stack: &[Frame], f: &Frame, text: &str) {
    if f.recovered {
        return;
    }
    match f.def.map(|d| d.id) {
        Some("vendor_id") if f.xpath == "/package/software/vendor_id" => {
            out.vendor_id = Some(text.to_string());
        }
        Some(id @ ("file_name" | "size" | "checksum")) => {
            let parent_is_file = stack
                .last()
                .and_then(|p| p.def)
                .is_some_and(|d| FILE_REFERENCES.contains(&d.id));
            if let Some(r) = out.files.last_mut().filter(|_| parent_is_file) {
                let slot = match id {
                    "file_name" => &mut r.file_name,
                    "size" => &mut r.size,
                    _ => &mut r.checksum,
                };
                *slot = Some(text.to_string());
            }
        }
        _ => {}
    }
}
