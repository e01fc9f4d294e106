"""The dependency audit step: a vulnerability fails the build; an audit that could not run says so."""

from __future__ import annotations

from scripts.dependency_audit import failure_verdict, verdict


def dependency(name: str, vulns: list | None = None, skip: str | None = None) -> dict:
    entry: dict = {"name": name, "version": "1.0"}
    if skip:
        entry["skip_reason"] = skip
    else:
        entry["vulns"] = vulns or []
    return entry


def test_a_known_vulnerability_fails_the_build():
    report = {
        "dependencies": [
            dependency("django", [{"id": "PYSEC-2099-1", "fix_versions": ["5.2.20"]}]),
            dependency("pillow"),
        ]
    }
    assert verdict(report) == (
        1,
        "pip-audit: known vulnerabilities in installed dependencies:\n"
        "  django 1.0: PYSEC-2099-1 (fixed in 5.2.20)",
    )


def test_a_clean_audit_passes_and_says_how_much_it_audited():
    assert verdict({"dependencies": [dependency("django"), dependency("pillow")]}) == (
        0,
        "pip-audit: 2 dependencies audited, no known vulnerabilities",
    )


def test_an_audit_that_could_look_nothing_up_passes_but_says_it_did_not_run():
    report = {
        "dependencies": [
            dependency("django", skip="Dependency not found on PyPI"),
            dependency("pillow", skip="Dependency not found on PyPI"),
        ]
    }
    code, message = verdict(report)
    assert code == 0
    assert message.startswith("pip-audit could not reach its advisory database: none of the 2 dependencies")
    assert "did NOT run" in message


def test_dependencies_that_could_not_be_looked_up_are_named():
    report = {"dependencies": [dependency("django"), dependency("private-lib", skip="not on PyPI")]}
    assert verdict(report) == (
        0,
        "pip-audit: 1 dependencies audited, no known vulnerabilities; "
        "1 could not be looked up and were NOT audited: private-lib",
    )


def test_no_network_is_reported_as_not_run_and_any_other_failure_fails():
    assert failure_verdict(1, "requests.exceptions.ConnectionError: Max retries exceeded")[0] == 0
    assert failure_verdict(2, "error: unrecognized arguments: --bogus") == (
        1,
        "pip-audit failed with exit code 2:\nerror: unrecognized arguments: --bogus",
    )
