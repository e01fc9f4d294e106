from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessioncloud.lib.envconfig import ConfigError, env_bool, read_secret, secret_or_generated


def run_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SESSIONCLOUD_", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"))
    }
    return subprocess.run(
        [sys.executable, "-m", "sessioncloud.cli", "check"],
        env={**base, "SESSIONCLOUD_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_mode_refuses_to_start_without_secrets(tmp_path):
    result = run_check(tmp_path, SESSIONCLOUD_PRODUCTION="true")
    assert result.returncode == 2
    assert "SECRET_KEY is not set. In production mode every secret must be given" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_mode_starts_with_secrets_from_files(tmp_path):
    result = run_check(tmp_path, **production_secrets(tmp_path))
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "secrets").exists()


def production_secrets(tmp_path: Path) -> dict[str, str]:
    from sessioncloud.lib.secretbox import generate_key

    (tmp_path / "sk").write_text("x" * 60)
    (tmp_path / "ek").write_text(generate_key())
    return {
        "SESSIONCLOUD_PRODUCTION": "true",
        "SECRET_KEY_FILE": str(tmp_path / "sk"),
        "SESSIONCLOUD_ENCRYPTION_KEYS_FILE": str(tmp_path / "ek"),
        "EMAIL_URL": "submission://mailer:pw@mail.example.com:587",
    }


def test_production_mode_refuses_to_start_without_a_mail_server(tmp_path):
    env = production_secrets(tmp_path)
    del env["EMAIL_URL"]
    result = run_check(tmp_path, **env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "sessioncloud: configuration error: EMAIL_URL is not set. In production mode password resets, "
        "invitations and setup e-mails go through a real mail server: set EMAIL_URL, for example "
        "submission://user:password@mail.example.com:587."
    )


@pytest.mark.parametrize("url", ["file:///tmp/mails", "memory:", "dummy:"])
def test_production_mode_refuses_a_mail_backend_that_sends_nothing(tmp_path, url):
    result = run_check(tmp_path, **{**production_secrets(tmp_path), "EMAIL_URL": url})
    assert (result.returncode, result.stderr.strip()) == (
        2,
        (
            "sessioncloud: configuration error: EMAIL_URL: production mode needs a real mail server "
            "(smtp:// or submission://)."
        ),
    )


def test_the_console_mail_backend_is_refused_because_it_writes_links_to_the_log(tmp_path):
    result = run_check(tmp_path, EMAIL_URL="console:")
    assert (result.returncode, result.stderr.strip()) == (
        2,
        (
            "sessioncloud: configuration error: EMAIL_URL=console: would write e-mails, with their "
            "password-reset "
            "and invitation links, to the log. Leave EMAIL_URL unset to keep them as files in the data "
            "directory, "
            "or name a mail server."
        ),
    )


def test_an_unknown_mail_scheme_is_a_clear_error(tmp_path):
    result = run_check(tmp_path, EMAIL_URL="smtp+tls://u:p@mail.example.com:587")
    assert result.returncode == 2
    assert result.stderr.startswith("sessioncloud: configuration error: EMAIL_URL: use one of the schemes ")


def test_the_default_generates_secrets_once_and_keeps_them(tmp_path):
    first = secret_or_generated("SC_TEST_SECRET", tmp_path, False, lambda: "generated-1")
    second = secret_or_generated("SC_TEST_SECRET", tmp_path, False, lambda: "generated-2")
    assert first == second == "generated-1"
    assert oct((tmp_path / "secrets" / "sc_test_secret").stat().st_mode & 0o777) == "0o600"


def test_a_secret_file_that_cannot_be_read_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SC_TEST_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="SC_TEST_SECRET_FILE names .*missing, which cannot be read"):
        read_secret("SC_TEST_SECRET")


def test_booleans_are_read_strictly(monkeypatch):
    monkeypatch.setenv("SC_FLAG", "yes")
    assert env_bool("SC_FLAG") is True
    monkeypatch.setenv("SC_FLAG", "perhaps")
    with pytest.raises(ConfigError, match="SC_FLAG must be true or false"):
        env_bool("SC_FLAG")


def test_a_bad_encryption_key_is_a_clear_error(tmp_path):
    result = run_check(tmp_path, SESSIONCLOUD_ENCRYPTION_KEYS="not-a-key")
    assert result.returncode != 0
    assert "Each encryption key must be 32 url-safe base64-encoded bytes" in result.stderr
