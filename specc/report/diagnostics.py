"""Diagnostics as text (one `FILE:LINE:COL: path: message [CODE]` line each) or JSON.

Takes diagnostics; returns a string. Must not print.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from specc.diagnostics import Diagnostic, Severity, sorted_diagnostics

DIAGNOSTICS_FORMAT_VERSION = 1


def diagnostics_text(diagnostics: Sequence[Diagnostic]) -> str:
    return "".join(d.render() + "\n" for d in sorted_diagnostics(diagnostics))


def validation_json(results: Sequence[tuple[str, Sequence[Diagnostic]]]) -> str:
    """`specc validate --format json`: one entry per file, `valid` and its diagnostics."""
    files = []
    for name, diagnostics in results:
        ordered = sorted_diagnostics(diagnostics)
        files.append({
            "file": name,
            "valid": not any(d.severity is Severity.ERROR for d in ordered),
            "diagnostics": [d.to_dict() for d in ordered],
        })
    document = {"formatVersion": DIAGNOSTICS_FORMAT_VERSION,
                "valid": all(f["valid"] for f in files), "files": files}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
