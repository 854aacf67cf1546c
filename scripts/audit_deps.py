"""CI's dependency audit: pip-audit over the packages installed beside it, with a verdict that cannot
pass silently.

pip-audit exits 1 both on a finding and when it cannot reach its vulnerability service (a
traceback), and it says "No known vulnerabilities found" and exits 0 when the service knew none of
the packages (behind a package mirror every one is "skipped"). ``verdict`` tells these apart:

- a known vulnerability: one line per finding, exit 1;
- the service could not be asked, or knew none of the packages: one line saying so and why, exit 0;
- otherwise one line: how many packages were audited (and how many the service did not know), exit 0.

Arguments are passed on to pip-audit (e.g. ``-r requirements.txt --no-deps --disable-pip``).
"""

from __future__ import annotations

import json
import subprocess
import sys

TIMEOUT_S = 600
COMMAND = ("-m", "pip_audit", "--local", "--skip-editable", "--progress-spinner", "off", "--format", "json")


def verdict(returncode: int, stdout: str, stderr: str) -> tuple[int, list[str]]:
    """(exit code, lines to print) for one pip-audit run with ``--format json``."""
    try:
        deps = json.loads(stdout)["dependencies"]
        if not isinstance(deps, list):
            raise TypeError("dependencies is not a list")
    except (ValueError, KeyError, TypeError):
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        why = lines[-1][:300] if lines else f"pip-audit exited {returncode} without a result"
        return 0, [f"dependency audit could not run: {why}"]
    findings = [_finding(d, v) for d in deps for v in d.get("vulns") or []]
    if findings:
        return 1, [f"dependency audit failed: known vulnerabilities: {len(findings)}", *findings]
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = len(deps) - len(skipped)
    if not audited:
        first = skipped[0]["skip_reason"] if skipped else "no packages"
        why = f"the vulnerability service knew none of the {len(deps)} packages ({first})"
        return 0, [f"dependency audit could not run: {why}"]
    unknown = f", {len(skipped)} not known to the service" if skipped else ""
    return 0, [f"dependency audit: no known vulnerabilities ({audited} packages audited{unknown})"]


def _finding(dep: dict, vuln: dict) -> str:
    aliases = ", ".join(vuln.get("aliases") or []) or "no alias"
    fixed = ", ".join(vuln.get("fix_versions") or []) or "no release"
    return f"{dep.get('name')} {dep.get('version')}: {vuln.get('id')} ({aliases}; fixed in {fixed})"


def main(args: list[str]) -> int:
    try:
        done = subprocess.run(
            [sys.executable, *COMMAND, *args], capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        print(f"dependency audit could not run: pip-audit did not finish within {TIMEOUT_S} s")
        return 0
    code, lines = verdict(done.returncode, done.stdout, done.stderr)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
