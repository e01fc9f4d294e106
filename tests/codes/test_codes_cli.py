"""`sessioncloud codes parse|encode|render` prints exact JSON and text, and fails cleanly."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessioncloud.codes.cli import main
from sessioncloud.codes.qr import decode_image, render_png

REPO = Path(__file__).resolve().parents[2]
EXTERNAL = "scsc:1000:1234:AcmeInc"
EXTERNAL_JSON = {
    "kind": "external",
    "format": "scsc",
    "providerId": "AcmeInc",
    "sipaccounts": [],
    "xmppaccounts": [],
    "username": "1000",
    "password": "1234",
    "token": None,
}
ACCOUNTS = '{"sipaccounts":[{"sipusername":"2006","sippassword":"p&ss"}]}'


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str | bytes = "") -> tuple[int, str, str]:
    raw = stdin.encode() if isinstance(stdin, str) else stdin
    stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    original = sys.stdin
    sys.stdin = stream
    try:
        status = main(list(argv))
    finally:
        sys.stdin = original
    out, err = capsys.readouterr()
    return status, out, err


def test_it_prints_the_parsed_code_as_the_phone_api_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "parse", EXTERNAL)

    assert (status, err) == (0, "")
    assert out == json.dumps(EXTERNAL_JSON) + "\n"


def test_it_prints_non_ascii_characters_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "parse", "scsc:josé:1234")

    assert status == 0
    assert '"username": "josé"' in out


def test_it_reads_the_code_from_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "parse", "-", stdin=EXTERNAL + "\n")

    assert (status, json.loads(out)) == (0, EXTERNAL_JSON)


def test_it_reads_the_code_from_a_qr_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    image = tmp_path / "code.png"
    image.write_bytes(render_png(EXTERNAL))

    status, out, _ = run(capsys, "parse", "--image", str(image))

    assert (status, json.loads(out)) == (0, EXTERNAL_JSON)


def test_it_reports_an_invalid_code_on_stderr_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "parse", "scloc:AcmeInc")

    assert (status, out) == (2, "")
    assert err == "error: missing '|' between the ProviderId and the account JSON\n"


def test_it_reports_an_image_without_a_code_with_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    image = tmp_path / "notes.txt"
    image.write_text("not an image")

    status, _, err = run(capsys, "parse", "--image", str(image))

    assert (status, err) == (2, "error: the file is not a readable PNG, JPEG, GIF, WebP or BMP image\n")


def test_it_reports_a_missing_file_with_status_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"

    status, _, err = run(capsys, "parse", "--image", str(missing))

    assert (status, err) == (1, f"error: {missing}: No such file or directory\n")


def test_it_reports_stdin_that_is_not_utf8_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "parse", "-", stdin=b"scsc:\xff:1234")

    assert (status, err) == (2, "error: the input is not UTF-8 text\n")


def test_it_refuses_both_a_text_and_an_image_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "parse", EXTERNAL, "--image", "code.png")

    assert status == 2
    assert "argument --image: not allowed with argument text" in err


def test_it_encodes_generic_local_accounts(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "encode", "local", "--provider-id", "AcmeInc", "--json", ACCOUNTS)

    assert (status, out) == (
        0,
        'scloc:AcmeInc|{"sipaccounts":[{"sipusername":"2006","sippassword":"p&ss"}]}\n',
    )


def test_it_encodes_whitelabel_local_accounts_read_from_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "encode", "local", "--json", "-", stdin=ACCOUNTS)

    assert (status, out) == (0, 'scloc:{"sipaccounts":[{"sipusername":"2006","sippassword":"p&ss"}]}\n')


def test_it_encodes_a_desktop_link(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys,
        "encode",
        "desktop",
        "--provider-id",
        "AcmeInc",
        "--json",
        '[{"sipusername":"2006","sippassword":"p&ss"}]',
    )

    assert (status, out) == (
        0,
        'scloc:?providerId=AcmeInc&sipaccounts="[{"sipusername":"2006","sippassword":"p&ss"}]"\n',
    )


def test_it_refuses_xmpp_accounts_for_a_desktop_link(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(
        capsys,
        "encode",
        "desktop",
        "--provider-id",
        "AcmeInc",
        "--json",
        '{"xmppaccounts":[{"jid":"a@b","password":"x","domain":"b"}]}',
    )

    assert (status, err) == (2, "error: the desktop link cannot carry xmppaccounts; use encode local\n")


def test_it_encodes_external_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "encode", "external", "--username", "1000", "--password", "1234", "--provider-id", "AcmeInc"
    )

    assert (status, out) == (0, "scsc:1000:1234:AcmeInc\n")


def test_it_reads_the_password_from_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "encode", "external", "--username", "1000", "--password-stdin", stdin="12 34\nignored\n"
    )

    assert (status, out) == (0, "scsc:1000:12 34\n")


def test_it_refuses_a_password_holding_a_colon(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "encode", "external", "--username", "1000", "--password", "12:34")

    assert (status, out) == (2, "")
    assert err == (
        "error: the password holds ':', which an scsc: code cannot carry; use a setup token instead\n"
    )


def test_it_encodes_a_setup_token(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "encode", "token", "--token", "q1W2e3R4t5Y6u7I8o9P0-_")

    assert (status, out) == (0, "scloc:?v=2&token=q1W2e3R4t5Y6u7I8o9P0-_\n")


def test_it_reports_bad_account_json_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "encode", "local", "--json", '{"sipaccounts":[{}]}')

    assert (status, err) == (
        2,
        "error: the accounts are not valid: "
        "sipaccounts[0].sipusername: missing; "
        "sipaccounts[0].sippassword: missing\n",
    )


@pytest.mark.parametrize("suffix", [".png", ".PNG", ".svg"])
def test_it_renders_a_code_to_an_image_file_chosen_by_extension(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str
) -> None:
    output = tmp_path / f"code{suffix}"

    status, out, err = run(capsys, "render", EXTERNAL, "-o", str(output))

    assert (status, out, err) == (0, "", "")
    data = output.read_bytes()
    if suffix == ".svg":
        assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<svg')
    else:
        assert decode_image(data) == EXTERNAL


def test_it_refuses_to_render_an_invalid_code(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    output = tmp_path / "code.png"

    status, _, err = run(capsys, "render", "scsc:1000", "-o", str(output))

    assert (status, err) == (
        2,
        "error: the scsc: code has no password; expected scsc:<username>:<password>[:<ProviderId>]\n",
    )
    assert not output.exists()


def test_it_refuses_an_unknown_image_extension(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    output = tmp_path / "code.gif"

    status, _, err = run(capsys, "render", EXTERNAL, "-o", str(output))

    assert (status, err) == (
        2,
        f"error: cannot tell the image format from '{output}'; name the file .png or .svg\n",
    )
    assert not output.exists()


def test_it_answers_help_with_status_0(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")

    assert status == 0
    assert out.startswith("usage: sessioncloud codes [-h] {parse,encode,render} ...")


def test_it_answers_a_missing_command_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys)

    assert status == 2
    assert "the following arguments are required: command" in err


def test_it_runs_as_a_python_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sessioncloud.codes.cli", "parse", EXTERNAL],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )

    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == EXTERNAL_JSON
