"""The reviewed expectation file shared by the GET sweep (sweep.py) and the write sweep
(write_sweep.py): tests/prism/expectations.tsv, one line per operation that a sweep does not pass:

    operationId<TAB>outcome<TAB>why

outcome is one of
    apple-rule   crabapple answers 4xx for a rule of Apple's (`why` cites it: apple-semantics.md §N,
                 the error code and the X-Crabapple-Reason text)
    unbuildable  the sweep cannot build the request (why: what is missing)
    unprovable   the write succeeds but no GET operation of the spec can show its effect
    defect       a crabapple defect the lead still has to fix (why: the cause; the details are in
                 tests/prism/write-sweep-findings.md); remove the line when the fix lands

A sweep counts an operation that does not pass and has no line, or a line whose outcome differs
from what happened, as a failure; a line for an operation that now passes is stale (a failure too),
so the file stays true. Standard library only.
"""

from __future__ import annotations

import pathlib

HERE = pathlib.Path(__file__).resolve().parent
EXPECTATIONS = HERE / "expectations.tsv"
OUTCOMES = ("apple-rule", "unbuildable", "unprovable", "defect")


def load(path=EXPECTATIONS) -> dict[str, tuple[str, str]]:
    """{operationId: (outcome, why)}; raises SystemExit on a malformed line."""
    out: dict[str, tuple[str, str]] = {}
    p = pathlib.Path(path)
    if not p.exists():
        return out
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[1] not in OUTCOMES or not parts[2].strip():
            raise SystemExit(f"{p.name}:{n}: want `operationId<TAB>outcome<TAB>why` with outcome "
                             f"one of {', '.join(OUTCOMES)}: {line!r}")
        if parts[0] in out:
            raise SystemExit(f"{p.name}:{n}: {parts[0]} listed twice")
        out[parts[0]] = (parts[1], parts[2])
    return out


def judge(results, expected: dict[str, tuple[str, str]], scope: set[str]):
    """Compare each result's `category` (pass, apple-rule, unbuildable, unprovable, defect) with
    the expectation file. Sets rec["verdict"] to ok / expected / unexplained / wrong-expectation /
    stale and returns the list of failing records (stale lines for operations in `scope` that
    did not run become records of their own)."""
    failing = []
    seen = set()
    for rec in results:
        op = rec["op"]
        seen.add(op)
        exp = expected.get(op)
        cat = rec["category"]
        if cat == "pass":
            rec["verdict"] = "stale" if exp else "ok"
        elif exp is None:
            rec["verdict"] = "unexplained"
        elif exp[0] != cat:
            rec["verdict"] = "wrong-expectation"
        else:
            rec["verdict"] = "expected"
        if exp:
            rec["expected"] = f"{exp[0]}: {exp[1]}"
        if rec["verdict"] not in ("ok", "expected"):
            failing.append(rec)
    for op in sorted(set(expected) & scope - seen):
        rec = {"op": op, "category": "not-run", "outcome": "not-run", "verdict": "stale",
               "expected": f"{expected[op][0]}: {expected[op][1]}"}
        results.append(rec)
        failing.append(rec)
    return failing


def describe(rec) -> str:
    v = rec["verdict"]
    if v == "stale":
        return (f"STALE expectation {rec['op']} ({rec['expected']}): it now "
                f"{'passes' if rec['category'] == 'pass' else 'did not run'}; remove the line")
    if v == "wrong-expectation":
        return f"UNEXPECTED {rec['op']}: {rec['category']}, but expectations.tsv says {rec['expected']}"
    return f"UNEXPLAINED {rec['op']}: {rec['category']} (no line in expectations.tsv)"
