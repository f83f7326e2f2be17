"""Values for the write sweep's generated requests (write_sweep.py): one valid, unique value per
attribute schema of Apple's spec (enums, formats, names that must be unique such as bundle
identifiers, product ids and locales), and a different one when an attribute is patched.
Standard library only.
"""

from __future__ import annotations

import base64
import datetime
import subprocess

# Locales a localization of the demo world does not use yet (en-US is every parent's first one).
LOCALES = ["fr-FR", "de-DE", "ja", "es-ES", "it", "ko", "nl-NL", "pt-BR", "sv", "da", "fi", "no",
           "ru", "zh-Hans", "zh-Hant", "tr", "th", "pl", "cs", "hu", "el", "he", "id", "ms", "vi",
           "uk", "ro", "sk", "hr", "ca", "hi", "ar-SA", "en-GB", "en-AU", "en-CA", "es-MX", "fr-CA",
           "pt-PT"]


# Attributes whose name says what they hold: name -> (unique number, resource type) -> value.
NAMED = {
    "locale": lambda n, t: LOCALES[(n - 1) % len(LOCALES)],
    "identifier": lambda n, t: f"com.example.sweep{n}",
    "bundleId": lambda n, t: f"com.example.sweep{n}",
    "packageName": lambda n, t: f"com.example.sweep{n}",
    "productId": lambda n, t: f"com.example.sweep.product{n}",
    "udid": lambda n, t: f"{n:040x}",
    "vendorIdentifier": lambda n, t: f"sweep.{t}.{n}",
    "assetPackIdentifier": lambda n, t: f"sweep.{t}.{n}",
    "offerId": lambda n, t: f"sweep.{t}.{n}",
    "scopedPlayerId": lambda n, t: f"sweep.{t}.{n}",
    "versionString": lambda n, t: f"9.{n}",
    "cfBundleShortVersionString": lambda n, t: f"9.{n}",
    "cfBundleVersion": lambda n, t: str(1000 + n),
    "offerCode": lambda n, t: f"SWEEP{n}",
    "customCode": lambda n, t: f"SWEEP{n}",
    "domain": lambda n, t: f"sweep{n}.example.com",
    "fileName": lambda n, t: f"sweep{n}.png",
    "publicKey": lambda n, t: base64.b64encode(f"crabapple write sweep {n}".encode()).decode(),
    "secret": lambda n, t: base64.b64encode(f"crabapple write sweep {n}".encode()).decode(),
    "firstName": lambda n, t: "Sweep",
    "lastName": lambda n, t: f"Tester{n}",
}


def resolve(schemas, s):
    """Follow `$ref`s (the manifest names schemas bare) and take the first of a oneOf/anyOf."""
    for _ in range(20):
        if not isinstance(s, dict):
            return {}
        if "$ref" in s:
            s = schemas.get(s["$ref"].rsplit("/", 1)[-1], {})
        elif s.get("oneOf") or s.get("anyOf"):
            s = (s.get("oneOf") or s.get("anyOf"))[0]
        else:
            return s
    return s


def csr() -> str | None:
    """A fresh PKCS#10 request (base64 DER, what `csrContent` carries), from openssl."""
    try:
        out = subprocess.run(
            ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null",
             "-subj", "/CN=crabapple write sweep/emailAddress=sweep@example.com", "-outform", "DER"],
            capture_output=True, timeout=60)
    except OSError:
        return None
    return base64.b64encode(out.stdout).decode() if out.returncode == 0 and out.stdout else None


class Values:
    def __init__(self, schemas):
        self.schemas = schemas
        self.n = 0
        self._csr = None

    def next(self) -> int:
        self.n += 1
        return self.n

    def named(self, name: str, rtype: str):
        """A value for attributes whose name says what they hold (None: no rule for the name)."""
        n = self.next()
        if name == "csrContent":
            self._csr = self._csr or csr()
            return self._csr
        rule = NAMED.get(name)
        return rule(n, rtype) if rule else None

    def value(self, schema, name: str, rtype: str, current=None):
        """A valid value for `schema`; with `current`, one different from it where it can be."""
        s = resolve(self.schemas, schema)
        enum = s.get("enum")
        if enum:
            others = [e for e in enum if e != current]
            return (others or enum)[0]
        t = s.get("type")
        if t == "boolean":
            return not current if isinstance(current, bool) else True
        if t == "integer":
            small = {"minPlayers": 2, "maxPlayers": 4, "trafficProportion": 50, "percentageAchieved": 100,
                     "fileSize": 1024, "numberOfCodes": 10, "points": 10}
            base = small.get(name, 1)
            return current + 1 if isinstance(current, int) and current + 1 != base else base + (current == base)
        if t == "number":
            return (current or 0) + 1.5
        if t == "array":
            return [self.value(s.get("items", {}), name, rtype)]
        if t == "object" or "properties" in s:
            props = s.get("properties", {})
            keys = s.get("required") or list(props)
            return {k: self.value(props[k], k, rtype) for k in keys}
        fmt = s.get("format")
        n = self.next()
        if fmt == "email":
            return f"sweep{n}@example.com"
        if fmt == "uri":
            return f"https://example.com/sweep/{n}"
        if fmt == "date":
            return (datetime.date(2027, 1, 1) + datetime.timedelta(days=n)).isoformat()
        if fmt == "date-time":
            return (datetime.datetime(2027, 1, 1) + datetime.timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if fmt == "duration":
            return "P7D" if current == "P1D" else "P1D"
        if fmt == "number":
            return str(100 + n)
        named = self.named(name, rtype)
        if named is not None and named != current:
            return named
        return f"Sweep {name} {n}"

    @staticmethod
    def same(sent, got) -> bool:
        """Did `got` read back `sent`? (date-times compared as instants, numbers as numbers)."""
        if sent == got:
            return True
        if isinstance(sent, str) and isinstance(got, str):
            try:
                a = datetime.datetime.fromisoformat(sent.replace("Z", "+00:00"))
                b = datetime.datetime.fromisoformat(got.replace("Z", "+00:00"))
                return a == b
            except ValueError:
                return False
        if isinstance(sent, (int, float)) and isinstance(got, (int, float)):
            return float(sent) == float(got)
        return False
