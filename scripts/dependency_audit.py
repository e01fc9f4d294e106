#!/usr/bin/env python3
"""Audit the installed dependencies for known vulnerabilities with pip-audit.

Exit 1 when a dependency has a known vulnerability (or pip-audit itself breaks). When pip-audit
cannot reach its advisory database (no network to PyPI's vulnerability data), say so plainly
and exit 0: an audit that could not run is reported as not run, never as clean.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 300
NETWORK_SIGNS = (
    "ConnectionError",
    "Max retries exceeded",
    "Name or service not known",
    "Temporary failure in name",
    "timed out",
    "Connection refused",
    "SSLError",
    "ProxyError",
    "Network is unreachable",
)


def verdict(report: dict[str, Any]) -> tuple[int, str]:
    """(exit code, message) for pip-audit's JSON report."""
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    if vulnerable:
        lines = [
            f"  {d['name']} {d['version']}: "
            + ", ".join(
                f"{v['id']} (fixed in {', '.join(v.get('fix_versions') or ['no release yet'])})"
                for v in d["vulns"]
            )
            for d in vulnerable
        ]
        return 1, "pip-audit: known vulnerabilities in installed dependencies:\n" + "\n".join(lines)
    if dependencies and audited == 0:
        return 0, (
            f"pip-audit could not reach its advisory database: none of the {len(dependencies)} dependencies "
            f"could be looked up ({skipped[0]['skip_reason']}). The dependency audit did NOT run here; "
            "it runs wherever PyPI's vulnerability data can be reached."
        )
    if skipped:
        names = ", ".join(sorted(d["name"] for d in skipped))
        return 0, (
            f"pip-audit: {audited} dependencies audited, no known vulnerabilities; "
            f"{len(skipped)} could not be looked up and were NOT audited: {names}"
        )
    return 0, f"pip-audit: {audited} dependencies audited, no known vulnerabilities"


def failure_verdict(returncode: int, stderr: str) -> tuple[int, str]:
    if any(sign in stderr for sign in NETWORK_SIGNS):
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        return (
            0,
            f"pip-audit could not reach its advisory database ({last[:200]}). The dependency audit did NOT "
            "run.",
        )
    return 1, f"pip-audit failed with exit code {returncode}:\n{stderr.strip()[-2000:]}"


def main() -> int:
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "audit.json"
        try:
            result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
                [
                    sys.executable,
                    "-m",
                    "pip_audit",
                    "--skip-editable",
                    "--progress-spinner",
                    "off",
                    "--format",
                    "json",
                    "--output",
                    str(output),
                ],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            print(f"pip-audit did not finish within {TIMEOUT_SECONDS} s. The dependency audit did NOT run.")
            return 0
        if output.exists() and output.stat().st_size:
            code, message = verdict(json.loads(output.read_text()))
        else:
            code, message = failure_verdict(result.returncode, result.stderr)
    print(message)
    return code


if __name__ == "__main__":
    sys.exit(main())
