#!/usr/bin/env python3
"""Validate a crabapple seed file (default: demo.yaml next to this script) against the
spec manifest (default: crates/spec/manifest.json).

    python3 crates/asc/world/check.py [seed.yaml] [--manifest PATH] [--fallback-yaml]
                                      [--self-test] [--counts] [--strict] [--unset]

Checks:
  * top level is `team` + `resources`; team.id is a 10-character team id, team.name a string, issuerId a UUID, vendorNumber digits;
  * every type under `resources` is a JSON:API type of the manifest, each a list of resources
    with only `id`, `attributes`, `relationships`;
  * ids are strings, unique per type, and follow Apple's id form for the type (see ID_FORMS);
  * every attribute exists on the type and its value matches the manifest shape: type, enum,
    format (date, date-time, uri, email, number-as-string, …), min/max, nested object members;
    deprecated attributes are reported as warnings (errors with --strict);
  * every relationship name exists on the type, to-one gets one reference and to-many a list;
    a reference is an id (target type from the manifest) or {type, id}; the id must exist in
    the file under that type (types absent from the file are synthesized by the loader with
    ids nobody can know, so referencing them is an error);
  * inverse consistency: the loader writes the inverse of every declared relationship (the
    manifest's `inverse`, else the one relationship of the target type pointing back); a to-one
    (on either side) must not end up pointing at two resources, and a relationship declared on
    both sides must agree;
  * --unset lists the to-one relationships seeded resources leave unset (the loader links them);
  * a few Apple-specific shapes: ImageAsset.templateUrl ends in `{w}x{h}bb.{f}`,
    bundleIdCapabilities ids are `<bundleIdId>_<capabilityType>` and owned by that bundle id.

Needs only the standard library. PyYAML is used when installed; otherwise (or with
--fallback-yaml) a small built-in parser reads the YAML subset seed files are written in
(block mappings/sequences, flow `{}`/`[]`, quoted and plain scalars, comments, `|`/`>` blocks).
Exit status 0 when there are no errors.
"""

import json
import os
import re
import sys
from collections import Counter, defaultdict
from datetime import date, datetime

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SEED = os.path.join(HERE, "demo.yaml")
DEFAULT_MANIFEST = os.path.normpath(os.path.join(HERE, "..", "..", "spec", "manifest.json"))

# --------------------------------------------------------------------------------------------
# Minimal YAML subset reader (used when PyYAML is missing)
# --------------------------------------------------------------------------------------------


class YamlError(Exception):
    pass


def _strip_comment(line):
    out = []
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            out.append(c)
            if quote == '"' and c == "\\" and i + 1 < len(line):
                out.append(line[i + 1])
                i += 2
                continue
            if c == quote:
                if quote == "'" and i + 1 < len(line) and line[i + 1] == "'":
                    out.append("'")
                    i += 2
                    continue
                quote = None
        else:
            if c == "#" and (i == 0 or line[i - 1] in " \t"):
                break
            if c in "\"'" and (i == 0 or line[i - 1] in " \t[{,:-"):
                quote = c
            out.append(c)
        i += 1
    return "".join(out).rstrip()


class _FlowParser:
    def __init__(self, text, lineno):
        self.s = text
        self.i = 0
        self.lineno = lineno

    def err(self, msg):
        raise YamlError(f"line {self.lineno}: {msg} in flow value {self.s!r}")

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t\n":
            self.i += 1

    def value(self, in_flow):
        self.ws()
        if self.i >= len(self.s):
            self.err("unexpected end")
        c = self.s[self.i]
        if c == "{":
            return self.mapping()
        if c == "[":
            return self.sequence()
        if c == '"':
            return self.dquoted()
        if c == "'":
            return self.squoted()
        return self.plain(in_flow)

    def mapping(self):
        self.i += 1
        out = {}
        while True:
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == "}":
                self.i += 1
                return out
            key = self.value(True)
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != ":":
                self.err("expected ':'")
            self.i += 1
            self.ws()
            if self.i < len(self.s) and self.s[self.i] in ",}":
                val = None
            else:
                val = self.value(True)
            if key in out:
                self.err(f"duplicate key {key!r}")
            out[key] = val
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == ",":
                self.i += 1
            elif self.i < len(self.s) and self.s[self.i] == "}":
                continue
            else:
                self.err("expected ',' or '}'")

    def sequence(self):
        self.i += 1
        out = []
        while True:
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == "]":
                self.i += 1
                return out
            out.append(self.value(True))
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == ",":
                self.i += 1
            elif self.i < len(self.s) and self.s[self.i] == "]":
                continue
            else:
                self.err("expected ',' or ']'")

    def dquoted(self):
        j = self.i + 1
        buf = []
        while j < len(self.s):
            c = self.s[j]
            if c == "\\":
                n = self.s[j + 1]
                simple = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "r": "\r",
                          "0": "\0", " ": " ", "b": "\b", "f": "\f", "e": "\x1b"}
                if n in simple:
                    buf.append(simple[n])
                    j += 2
                elif n in "xuU":
                    width = {"x": 2, "u": 4, "U": 8}[n]
                    buf.append(chr(int(self.s[j + 2:j + 2 + width], 16)))
                    j += 2 + width
                else:
                    self.err(f"unknown escape \\{n}")
                continue
            if c == '"':
                self.i = j + 1
                return "".join(buf)
            buf.append(c)
            j += 1
        self.err("unterminated string")

    def squoted(self):
        j = self.i + 1
        buf = []
        while j < len(self.s):
            c = self.s[j]
            if c == "'":
                if j + 1 < len(self.s) and self.s[j + 1] == "'":
                    buf.append("'")
                    j += 2
                    continue
                self.i = j + 1
                return "".join(buf)
            buf.append(c)
            j += 1
        self.err("unterminated string")

    def plain(self, in_flow):
        j = self.i
        while j < len(self.s):
            c = self.s[j]
            if in_flow and c in ",[]{}":
                break
            if c == ":" and (j + 1 == len(self.s) or self.s[j + 1] in " \t,]}"):
                break
            j += 1
        text = self.s[self.i:j].strip()
        self.i = j
        return _plain_scalar(text)


_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def _plain_scalar(text):
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def _scalar(text, lineno):
    p = _FlowParser(text, lineno)
    v = p.value(False)
    p.ws()
    if p.i != len(p.s):
        raise YamlError(f"line {lineno}: trailing text in {text!r}")
    return v


def _split_key(content):
    """Return (key, rest) when content is a `key: value` / `key:` line, else None."""
    quote = None
    depth = 0
    for i, c in enumerate(content):
        if quote:
            if c == quote:
                quote = None
            continue
        if c in "\"'" and i == 0:
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == ":" and depth == 0 and (i + 1 == len(content) or content[i + 1] in " \t"):
            return content[:i].strip(), content[i + 1:].strip()
    return None


def yaml_subset_load(text):
    raw = text.split("\n")
    lines = []  # (indent, content, lineno)
    for n, line in enumerate(raw, 1):
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise YamlError(f"line {n}: tab in indentation")
        lines.append((len(line) - len(line.lstrip(" ")), line, n))

    pos = [0]

    def next_significant(i):
        while i < len(lines):
            c = _strip_comment(lines[i][1]).strip()
            if c and c != "---":
                return i
            i += 1
        return i

    def content_of(i):
        return _strip_comment(lines[i][1]).strip()

    def flow_value(first, i):
        """A flow value may continue on following lines until brackets balance."""
        text = first
        lineno = lines[i][2]

        def balanced(t):
            d = 0
            q = None
            for c in t:
                if q:
                    if c == q:
                        q = None
                    continue
                if c in "\"'":
                    q = c
                elif c in "[{":
                    d += 1
                elif c in "]}":
                    d -= 1
            return d <= 0

        j = i
        while not balanced(text):
            j += 1
            if j >= len(lines):
                raise YamlError(f"line {lineno}: unbalanced flow value")
            text += " " + content_of(j)
        pos[0] = j + 1
        return _scalar(text, lineno)

    def block_scalar(indicator, i, parent_indent):
        style, chomp = indicator[0], indicator[1:]
        j = i + 1
        body = []
        ind = None
        while j < len(lines):
            ln = lines[j][1]
            if ln.strip() == "":
                body.append("")
                j += 1
                continue
            li = len(ln) - len(ln.lstrip(" "))
            if li <= parent_indent:
                break
            if ind is None:
                ind = li
            body.append(ln[ind:])
            j += 1
        pos[0] = j
        while body and body[-1] == "":
            body.pop()
        if style == "|":
            s = "\n".join(body)
        else:
            s = " ".join(b for b in body)
        if chomp != "-":
            s += "\n"
        return s

    def parse_value_text(rest, i, indent):
        if rest in ("|", "|-", "|+", ">", ">-", ">+"):
            return block_scalar(rest, i, indent)
        if rest[:1] in "[{":
            return flow_value(rest, i)
        pos[0] = i + 1
        return _scalar(rest, lines[i][2])

    def parse_node(i, indent, virtual=None):
        """virtual = (indent, content) overriding line i (for `- key: v` items)."""
        ind, content = virtual if virtual else (lines[i][0], content_of(i))
        if content.startswith("- ") or content == "-":
            return parse_seq(i, ind, virtual)
        return parse_map(i, ind, virtual)

    def parse_seq(i, indent, virtual):
        out = []
        first = True
        while True:
            if not first:
                i = next_significant(pos[0])
                if i >= len(lines) or lines[i][0] != indent:
                    break
                content = content_of(i)
                if not (content.startswith("- ") or content == "-"):
                    break
            else:
                content = virtual[1] if virtual else content_of(i)
            first = False
            rest = content[1:].strip()
            if rest == "":
                j = next_significant(i + 1)
                if j < len(lines) and lines[j][0] > indent:
                    out.append(parse_node(j, lines[j][0]))
                else:
                    out.append(None)
                    pos[0] = i + 1
            else:
                item_indent = indent + (len(content) - len(content[1:].lstrip())) 
                kv = _split_key(rest) if rest[:1] not in "[{" else None
                if kv is not None or rest.startswith("- "):
                    out.append(parse_node(i, item_indent, (item_indent, rest)))
                else:
                    out.append(parse_value_text(rest, i, indent))
        return out

    def parse_map(i, indent, virtual):
        out = {}
        first = True
        while True:
            if not first:
                i = next_significant(pos[0])
                if i >= len(lines) or lines[i][0] != indent:
                    if i < len(lines) and lines[i][0] > indent:
                        raise YamlError(f"line {lines[i][2]}: unexpected indentation")
                    break
                content = content_of(i)
                if content.startswith("- ") or content == "-":
                    break
            else:
                content = virtual[1] if virtual else content_of(i)
            first = False
            kv = _split_key(content)
            if kv is None:
                raise YamlError(f"line {lines[i][2]}: expected `key: value`, got {content!r}")
            key_text, rest = kv
            key = _scalar(key_text, lines[i][2])
            if key in out:
                raise YamlError(f"line {lines[i][2]}: duplicate key {key!r}")
            if rest == "":
                j = next_significant(i + 1)
                if j < len(lines) and lines[j][0] > indent:
                    out[key] = parse_node(j, lines[j][0])
                elif (j < len(lines) and lines[j][0] == indent
                      and (content_of(j).startswith("- ") or content_of(j) == "-")):
                    out[key] = parse_seq(j, indent, None)
                else:
                    out[key] = None
                    pos[0] = i + 1
            else:
                out[key] = parse_value_text(rest, i, indent)
        return out

    i = next_significant(0)
    if i >= len(lines):
        return None
    doc = parse_node(i, lines[i][0])
    j = next_significant(pos[0])
    if j < len(lines):
        raise YamlError(f"line {lines[j][2]}: unexpected content {content_of(j)!r}")
    return doc


def load_yaml(path, force_fallback=False):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not force_fallback:
        try:
            import yaml  # type: ignore
        except ImportError:
            yaml = None
        if yaml is not None:
            # Keep dates/timestamps as strings, as the loader (serde) sees them.
            class Loader(yaml.SafeLoader):
                pass

            for ch, resolvers in list(Loader.yaml_implicit_resolvers.items()):
                Loader.yaml_implicit_resolvers[ch] = [
                    (tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"
                ]
            return yaml.load(text, Loader=Loader), "PyYAML"
    return yaml_subset_load(text), "built-in subset parser"


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UUID_ANYCASE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NUM10 = re.compile(r"^[1-9][0-9]{9}$")
ALNUM10 = re.compile(r"^[A-Z0-9]{10}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
DURATION_RE = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
BASE64URL_RE = re.compile(r"^[A-Za-z0-9_-]+$")

# Apple's id forms for the types the demo world covers (anything else: any non-empty string).
ID_FORMS = {
    "apps": ("10-digit number", NUM10.match),
    "inAppPurchases": ("10-digit number", NUM10.match),
    "subscriptions": ("10-digit number", NUM10.match),
    "bundleIds": ("10 uppercase letters/digits", ALNUM10.match),
    "certificates": ("10 uppercase letters/digits", ALNUM10.match),
    "profiles": ("10 uppercase letters/digits", ALNUM10.match),
    "devices": ("10 uppercase letters/digits", ALNUM10.match),
    "appCategories": ("an Apple category id like GAMES_ACTION", re.compile(r"^[A-Z][A-Z0-9_]*$").match),
    "appPriceSchedules": ("the app id", NUM10.match),
    "subscriptionGroups": ("a numeric Apple id (8-10 digits)", re.compile(r"^[1-9][0-9]{7,9}$").match),
    "appPrices": ("an opaque base64url token", BASE64URL_RE.match),
    "appPricePoints": ("an opaque base64url token", BASE64URL_RE.match),
}
for _t in ("builds", "appStoreVersions", "appInfos", "appInfoLocalizations",
            "appStoreVersionLocalizations", "preReleaseVersions", "betaGroups", "betaTesters",
            "users", "userInvitations", "customerReviews", "customerReviewResponses",
            "subscriptionLocalizations", "subscriptionGroupLocalizations",
            "inAppPurchaseLocalizations", "analyticsReportRequests", "buildIcons",
            "buildBetaDetails", "betaAppLocalizations", "betaBuildLocalizations",
            "betaAppReviewSubmissions", "appStoreVersionPhasedReleases", "reviewSubmissions",
            "reviewSubmissionItems", "actors"):
    ID_FORMS[_t] = ("a lowercase UUID (8-4-4-4-12)", UUID_RE.match)


# Deprecated attributes the demo world sets on purpose: Apple still returns them and popular
# clients still read or filter on them (fastlane filters versions on appStoreState, for one).
DEPRECATED_OK = {
    ("appStoreVersions", "appStoreState"),
    ("appInfos", "appStoreState"),
    ("appInfos", "appStoreAgeRating"),
}


class Report:
    def __init__(self, strict):
        self.errors = []
        self.warnings = []
        self.strict = strict

    def error(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def warn(self, where, msg):
        (self.errors if self.strict else self.warnings).append(f"{where}: {msg}")


class Checker:
    def __init__(self, manifest, report):
        self.m = manifest
        self.S = manifest["schemas"]
        self.R = manifest["resources"]
        self.r = report
        # completeAttributes: true fills what a resource leaves out; an explicit null keeps it unset.
        self.complete = False

    def resolve(self, shape):
        seen = 0
        while isinstance(shape, dict) and "$ref" in shape:
            ref = shape["$ref"]
            if ref not in self.S:
                return None
            extra = {k: v for k, v in shape.items() if k != "$ref"}
            shape = dict(self.S[ref], **extra)
            seen += 1
            if seen > 20:
                return None
        return shape

    def value(self, where, shape, v):
        shape = self.resolve(shape)
        if shape is None:
            self.r.error(where, "unresolvable $ref in manifest")
            return
        if v is None:
            # Explicit null: allowed (the API returns nulls). Pointless in a seed, unless
            # completeAttributes would fill the attribute: there it keeps it unset, as Apple
            # answers an attribute nobody has set yet (a build's export compliance answer).
            if not self.complete:
                self.r.warn(where, "null value (omit the attribute instead)")
            return
        for alt_key in ("oneOf", "anyOf"):
            if alt_key in shape:
                alts = shape[alt_key]
                for alt in alts:
                    sub = Report(False)
                    Checker(self.m, sub).value(where, alt, v)
                    if not sub.errors:
                        return
                self.r.error(where, f"value matches none of the {alt_key} alternatives")
                return
        if shape.get("deprecated"):
            self.r.warn(where, "deprecated in the spec")
        ty = shape.get("type") or ("object" if "properties" in shape else None)
        if ty == "string":
            if not isinstance(v, str):
                self.r.error(where, f"expected a string, got {type(v).__name__} {v!r}")
                return
            if "enum" in shape and v not in shape["enum"]:
                self.r.error(where, f"{v!r} is not one of {shape['enum']}")
            self.fmt(where, shape.get("format"), v)
        elif ty == "integer":
            if isinstance(v, bool) or not isinstance(v, int):
                self.r.error(where, f"expected an integer, got {v!r}")
                return
            self.bounds(where, shape, v)
        elif ty == "number":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                self.r.error(where, f"expected a number, got {v!r}")
                return
            self.bounds(where, shape, v)
        elif ty == "boolean":
            if not isinstance(v, bool):
                self.r.error(where, f"expected a boolean, got {v!r}")
        elif ty == "array":
            if not isinstance(v, list):
                self.r.error(where, f"expected a list, got {v!r}")
                return
            for i, item in enumerate(v):
                self.value(f"{where}[{i}]", shape.get("items", {}), item)
        elif ty == "object":
            if not isinstance(v, dict):
                self.r.error(where, f"expected an object, got {v!r}")
                return
            props = shape.get("properties", {})
            addl = shape.get("additionalProperties")
            for k, sub in v.items():
                if k in props:
                    self.value(f"{where}.{k}", props[k], sub)
                elif isinstance(addl, dict):
                    self.value(f"{where}.{k}", addl, sub)
                elif addl is True:
                    pass
                else:
                    self.r.error(where, f"unknown member {k!r} (known: {sorted(props)})")
            if shape is not None and ("templateUrl" in props and "width" in props):
                self.image_asset(where, v)
        elif ty is None:
            pass
        else:
            self.r.error(where, f"manifest shape type {ty!r} not understood")

    def bounds(self, where, shape, v):
        if "minimum" in shape and v < shape["minimum"]:
            self.r.error(where, f"{v} < minimum {shape['minimum']}")
        if "maximum" in shape and v > shape["maximum"]:
            self.r.error(where, f"{v} > maximum {shape['maximum']}")

    def fmt(self, where, f, v):
        if not f:
            return
        ok = True
        if f == "date":
            ok = bool(DATE_RE.match(v))
            if ok:
                try:
                    date.fromisoformat(v)
                except ValueError:
                    ok = False
        elif f == "date-time":
            ok = bool(DATETIME_RE.match(v))
            if ok:
                try:
                    datetime.fromisoformat(v.replace("Z", "+00:00"))
                except ValueError:
                    ok = False
        elif f == "uri":
            ok = bool(re.match(r"^https://[A-Za-z0-9.-]+(:\d+)?(/\S*)?$", v))
        elif f == "uri-reference":
            ok = " " not in v
        elif f == "email":
            ok = bool(EMAIL_RE.match(v))
        elif f == "number":
            ok = bool(NUMBER_RE.match(v))
        elif f == "duration":
            ok = bool(DURATION_RE.match(v))
        elif f in ("int64", "binary"):
            ok = True
        if not ok:
            self.r.error(where, f"{v!r} is not a valid `{f}`")

    def image_asset(self, where, v):
        url = v.get("templateUrl")
        if isinstance(url, str):
            if not url.startswith("https://"):
                self.r.error(where, "templateUrl must be an absolute https URL")
            if not url.endswith("{w}x{h}bb.{f}"):
                self.r.error(where, "templateUrl must end with the `{w}x{h}bb.{f}` placeholder")
        for k in ("width", "height"):
            if k not in v:
                self.r.warn(where, f"ImageAsset without {k}")


def norm_ref(rel_def, ref):
    """(type, id) for a reference, or None when malformed."""
    if isinstance(ref, str):
        return (rel_def.get("target"), ref)
    if isinstance(ref, dict) and set(ref) == {"type", "id"} and isinstance(ref["id"], str):
        return (ref["type"], ref["id"])
    if isinstance(ref, int) and not isinstance(ref, bool):
        return (rel_def.get("target"), None)  # unquoted number: flagged by caller
    return None


def inverse_of(R, src_type, rel, dst_type):
    """The relationship the loader writes back on dst_type (as the engine decides it): the
    manifest's `inverse`, else the only relationship of dst_type that targets src_type."""
    inv = (R[src_type].get("relationships") or {}).get(rel, {}).get("inverse")
    dst_rels = R.get(dst_type, {}).get("relationships") or {}
    if inv:
        return inv if inv in dst_rels else None
    back = [n for n, r in dst_rels.items() if r.get("target") == src_type]
    return back[0] if len(back) == 1 else None


def check(doc, manifest, report):
    ck = Checker(manifest, report)
    R = manifest["resources"]
    if not isinstance(doc, dict):
        report.error("file", "top level must be a mapping")
        return {}
    ck.complete = doc.get("completeAttributes") is True
    for k in doc:
        if k not in ("team", "resources", "synthesize", "completeAttributes", "traffic", "analytics"):
            report.error("file", f"unknown top-level key {k!r} (expected team, resources, synthesize, completeAttributes, traffic, analytics)")
    if "synthesize" in doc and not isinstance(doc["synthesize"], bool):
        report.error("synthesize", "must be true or false")

    team = doc.get("team")
    if team is not None:
        if not isinstance(team, dict):
            report.error("team", "must be a mapping")
        else:
            for k, v in team.items():
                if k not in ("id", "name", "issuerId", "vendorNumber"):
                    report.error("team", f"unknown key {k!r}")
            if not isinstance(team.get("name"), str) or not team.get("name"):
                report.error("team.name", "required non-empty string")
            if "issuerId" in team and not (isinstance(team["issuerId"], str)
                                           and UUID_ANYCASE.match(team["issuerId"])):
                report.error("team.issuerId", f"{team['issuerId']!r} is not a UUID")
            if "id" in team and not (isinstance(team["id"], str) and len(team["id"]) == 10
                                     and team["id"].isalnum() and team["id"].isupper()):
                report.error("team.id", f"{team['id']!r} is not a 10-character team id")
            if "vendorNumber" in team and not (isinstance(team["vendorNumber"], str)
                                               and team["vendorNumber"].isdigit()):
                report.error("team.vendorNumber", "must be a quoted string of digits")

    resources = doc.get("resources")
    if not isinstance(resources, dict):
        report.error("resources", "required mapping of type -> list of resources")
        return {}

    ids = defaultdict(dict)  # type -> id -> resource (first of duplicates)
    entries = []  # every resource, duplicates included, in file order
    for t, items in resources.items():
        if t not in R:
            report.error(f"resources.{t}", "not a JSON:API type of the manifest")
            continue
        if not isinstance(items, list):
            report.error(f"resources.{t}", "must be a list")
            continue
        for n, res in enumerate(items):
            where = f"{t}[{n}]"
            if not isinstance(res, dict):
                report.error(where, "must be a mapping")
                continue
            for k in res:
                if k not in ("id", "createdDaysAgo", "attributes", "relationships"):
                    report.error(where, f"unknown key {k!r} (expected id, createdDaysAgo, attributes, relationships)")
            days = res.get("createdDaysAgo")
            if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
                report.error(where, f"createdDaysAgo must be a whole number of days >= 0, got {days!r}")
            rid = res.get("id")
            if not isinstance(rid, str) or not rid:
                report.error(where, f"id must be a non-empty string (quote numbers), got {rid!r}")
                continue
            where = f"{t}/{rid}"
            if rid in ids[t]:
                report.error(where, "duplicate id")
            else:
                ids[t][rid] = res
            entries.append((t, rid, res))
            form = ID_FORMS.get(t)
            if form and not form[1](rid):
                report.error(where, f"id should be {form[0]}")
            if t == "territories" and rid not in ck.resolve({"$ref": "TerritoryCode"})["enum"]:
                report.error(where, "id should be an ISO 3166-1 alpha-3 TerritoryCode")

    # attributes and relationship shapes
    edges = []  # (src_type, src_id, rel, dst_type, dst_id, declared=True)
    for t, rid, res in entries:
        tdef = R[t]
        attrs_def = tdef.get("attributes") or {}
        rels_def = tdef.get("relationships") or {}
        where = f"{t}/{rid}"
        attrs = res.get("attributes") or {}
        if not isinstance(attrs, dict):
            report.error(where, "attributes must be a mapping")
            attrs = {}
        for a, v in attrs.items():
            if a not in attrs_def:
                report.error(f"{where}.{a}", f"not an attribute of {t} "
                             f"(known: {', '.join(sorted(attrs_def)) or 'none'})")
                continue
            shape = attrs_def[a]
            if (t, a) in DEPRECATED_OK and isinstance(shape, dict):
                shape = {k: x for k, x in shape.items() if k != "deprecated"}
            ck.value(f"{where}.{a}", shape, v)
        rels = res.get("relationships") or {}
        if not isinstance(rels, dict):
            report.error(where, "relationships must be a mapping")
            rels = {}
        for rel, val in rels.items():
            rw = f"{where}.relationships.{rel}"
            if rel not in rels_def:
                report.error(rw, f"not a relationship of {t} (known: {', '.join(sorted(rels_def))})")
                continue
            rd = rels_def[rel]
            many = bool(rd.get("to_many"))
            if many:
                if not isinstance(val, list):
                    report.error(rw, "to-many relationship: give a list of ids")
                    continue
                refs = val
            else:
                if isinstance(val, list):
                    report.error(rw, "to-one relationship: give a single id, not a list")
                    continue
                refs = [val]
            seen = set()
            for ref in refs:
                nr = norm_ref(rd, ref)
                if nr is None or nr[1] is None:
                    report.error(rw, f"bad reference {ref!r} (an id string or {{type, id}})")
                    continue
                dt, did = nr
                if dt is None:
                    report.error(rw, "the manifest gives no target type: write {type: t, id: i}")
                    continue
                if rd.get("target") and dt != rd["target"]:
                    report.error(rw, f"reference type {dt!r} but the relationship targets {rd['target']!r}")
                    continue
                if (dt, did) in seen:
                    report.error(rw, f"{did} listed twice")
                seen.add((dt, did))
                if did not in ids.get(dt, {}):
                    report.error(rw, f"{dt}/{did} does not exist in the file")
                    continue
                edges.append((t, rid, rel, dt, did))

    # effective graph: declared edges plus the inverses the loader writes
    eff = defaultdict(set)  # (type, id, rel) -> {(type, id)}
    declared = defaultdict(set)
    for st, sid, rel, dt, did in edges:
        eff[(st, sid, rel)].add((dt, did))
        declared[(st, sid, rel)].add((dt, did))
        inv = inverse_of(R, st, rel, dt)
        if inv:
            eff[(dt, did, inv)].add((st, sid))
    for (t, rid, rel), targets in sorted(eff.items()):
        rd = R[t]["relationships"][rel]
        if not rd.get("to_many") and len(targets) > 1:
            report.error(f"{t}/{rid}.relationships.{rel}",
                         "to-one ends up pointing at several resources (declared here and/or via "
                         f"inverses): {sorted(i for _, i in targets)}")
    # both sides declared: they must agree
    for (st, sid, rel), targets in declared.items():
        for dt, did in targets:
            inv = inverse_of(R, st, rel, dt)
            if not inv:
                continue
            back = declared.get((dt, did, inv))
            if back is not None and (st, sid) not in back:
                report.error(f"{st}/{sid}.relationships.{rel}",
                             f"{dt}/{did} declares {inv} without {sid}")

    # Apple-specific: bundle id capabilities
    caps = ids.get("bundleIdCapabilities", {})
    owners = defaultdict(list)
    for (t, rid, rel), targets in eff.items():
        if t == "bundleIds" and rel == "bundleIdCapabilities":
            for _, cid in targets:
                owners[cid].append(rid)
    for cid, res in caps.items():
        where = f"bundleIdCapabilities/{cid}"
        ct = (res.get("attributes") or {}).get("capabilityType")
        own = owners.get(cid, [])
        if len(own) != 1:
            report.error(where, f"must be listed by exactly one bundleIds[].relationships.bundleIdCapabilities (found {own})")
        elif cid != f"{own[0]}_{ct}":
            report.error(where, f"id should be <bundleIdId>_<capabilityType> = {own[0]}_{ct}")

    if "--unset" in FLAGS:
        # The loader links every to-one relationship a resource leaves unset (to the first
        # instance of the target type, or a fresh synthesized one when that is taken).
        unset = Counter()
        for t, table in ids.items():
            for rel, rd in (R[t].get("relationships") or {}).items():
                if rd.get("to_many") or not rd.get("target"):
                    continue
                for rid in table:
                    if not eff.get((t, rid, rel)):
                        unset[(t, rel, rd["target"])] += 1
        print("to-one relationships left unset on seeded resources (the loader will fill them):")
        for (t, rel, target), n in sorted(unset.items()):
            seeded = "seeded" if target in ids else "synthesized"
            print(f"  {t}.{rel} -> {target} ({seeded}): {n} of {len(ids[t])}")

    return ids


FLAGS = set()


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    FLAGS.update(flags)
    manifest_path = DEFAULT_MANIFEST
    if "--manifest" in argv:
        manifest_path = argv[argv.index("--manifest") + 1]
        args.remove(manifest_path)
    seed = args[0] if args else DEFAULT_SEED
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    try:
        doc, how = load_yaml(seed, "--fallback-yaml" in flags)
    except Exception as e:  # noqa: BLE001 — any parse failure is a finding
        print(f"error: cannot parse {seed}: {e}")
        return 2
    if "--self-test" in flags:
        sub, _ = load_yaml(seed, True)
        if sub != doc:
            print(f"error: the built-in YAML reader and {how} disagree on {seed}")
            return 2
        print(f"self-test: built-in YAML reader agrees with {how}")
    report = Report("--strict" in flags)
    ids = check(doc, manifest, report)
    for w in report.warnings:
        print("warning:", w)
    for e in report.errors:
        print("error:", e)
    total = sum(len(v) for v in ids.values())
    if "--counts" in flags:
        for t in sorted(ids):
            print(f"  {t:40} {len(ids[t]):4}")
    print(f"{seed}: {total} resources in {len(ids)} types; "
          f"{len(report.errors)} errors, {len(report.warnings)} warnings ({how})")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
