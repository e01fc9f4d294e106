"""Real SIP software against accounts SessionCloud hands out, all on loopback.

    python tests/sip/scenario.py WORKDIR [--netns]

Runs everything itself and writes what it saw to WORKDIR/facts.json; tests/sip asserts on it.
With --netns it is already inside a new network namespace (`unshare --net`): it brings the
loopback interface up and adds 127.0.0.2, which linphonec needs to believe it is on a network.
PostgreSQL and Redis are not reachable from there, so SessionCloud runs here on its zero-config
default: SQLite in WORKDIR, no Redis.

Parts: kamailio (registrar, digest auth), the example provider service, `sessioncloud serve`;
accounts from four flows through `sessioncloud phone` (QR image, external login, setup token,
desktop link) written as baresip accounts; two baresip phones that register and call each
other; linphonec provisioning itself from the Linphone address of a setup token (the App
using STUN and ICE), then again after the App's SIP profile changed (NAT traversal off, its
own codec order). Every process is stopped at the end, whatever happened.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import wave
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.registrar import start_registrar  # noqa: E402

PYTHON = sys.executable
DOMAIN_HOST = "127.0.0.1"
# SIP users the registrar knows; the example provider service hands out 1000 and 1001.
SIP_USERS = {
    "2001": "qr-pw-2001",
    "2002": "token-pw-2002",
    "2003": "desk-pw-2003",
    "2004": "right-pw-2004",
    "2005": "lp-pw-2005",
    "1000": "demo-sip-secret-1000",
    "1001": "demo-sip-secret-1001",
}
CALLER_TONE, CALLEE_TONE = 440, 700  # Hz: each side sends its own, so each side's recording tells
Facts = dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_sip_port() -> int:
    """A port with the next one free too: baresip also listens for TLS on port + 1."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def loopback_up() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", "127.0.0.2/8", "dev", "lo"], check=True)


class Processes(ExitStack):
    """Every process started here, each in its own session; all stopped on exit."""

    def start(self, args: list[str], *, log: Path, **kwargs: Any) -> subprocess.Popen:
        with log.open("wb") as stream:
            process = subprocess.Popen(
                args, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
            )
        self.callback(stop, process)
        return process

    def adopt(self, process: subprocess.Popen) -> subprocess.Popen:
        self.callback(stop, process)
        return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- SessionCloud ----------------------------------------------------------------------------


class SessionCloud:
    def __init__(self, work: Path, processes: Processes):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.work = work
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "REDIS_URL") and not key.startswith("PYTEST")
        }
        self.env.update(
            SESSIONCLOUD_DATA_DIR=str(work / "sessioncloud"),
            SESSIONCLOUD_PUBLIC_URL=self.base,
            SESSIONCLOUD_OUTBOUND_ALLOW_NETS="127.0.0.0/8",
            SESSIONCLOUD_OUTBOUND_ALLOW_HTTP="true",
            SESSIONCLOUD_LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
        )
        self.command("migrate")
        self.command("orgs", "create", "sip", "--name", "SIP test")
        created = self.command("apikeys", "create", "--org", "sip", "--name", "sip test")
        self.key = re.search(r"\bsck_[A-Za-z0-9_-]+", created).group(0)
        self.process = processes.start(
            [
                PYTHON,
                "-m",
                "sessioncloud.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--threads",
                "4",
            ],
            log=work / "sessioncloud.log",
            env=self.env,
        )
        wait_for(lambda: http_ok(f"{self.base}/healthz"), 30, "SessionCloud did not start")

    def command(self, *args: str) -> str:
        done = subprocess.run(
            [PYTHON, "-m", "sessioncloud.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def phone(self, state: str, *args: str) -> str:
        """`sessioncloud phone` against this server, with its own state file."""
        return self.command(
            "phone", "--server", self.base, "--state", str(self.work / f"{state}.json"), *args
        )

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base}/api/v1/manage{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=20) as answer:  # loopback
            raw = answer.read()
        return raw if not raw or raw[:1] not in b"{[" else json.loads(raw)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # loopback
            return True
    except OSError:
        return False


def wait_for(check: Any, seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(failure)


def set_up_apps(cloud: SessionCloud, registrar_port: int, provider_url: str) -> None:
    sip = {"domain": f"{DOMAIN_HOST}:{registrar_port}", "transport": "UDP", "registrationExpires": 600}
    cloud.api("POST", "/apps", {"providerId": "SipLocal", "name": "SIP Local", "sip": sip})
    cloud.api(
        "POST",
        "/apps",
        {
            "providerId": "SipExt",
            "name": "SIP External",
            "sip": sip,
            "provisioning": {"mode": "external", "url": provider_url},
        },
    )
    for external_id, user in (("qr", "2001"), ("token", "2002"), ("wrong", "2004"), ("linphone", "2005")):
        password = "wrong-pw-2004" if external_id == "wrong" else SIP_USERS[user]
        cloud.api(
            "PUT",
            f"/apps/SipLocal/endusers/{external_id}",
            {"displayName": f"User {user}", "sip": {"sipusername": user, "sippassword": password}},
        )


# --- accounts from each flow -----------------------------------------------------------------


def accounts_from_flows(cloud: SessionCloud) -> dict[str, str]:
    """One baresip accounts line per flow, each obtained by `sessioncloud phone`."""
    lines = {}
    png = cloud.api("GET", "/apps/SipLocal/endusers/qr/code?format=local&image=png")
    (cloud.work / "qr.png").write_bytes(png)
    lines["qr"] = baresip_line(cloud, "qr", "scan", str(cloud.work / "qr.png"))
    lines["login"] = baresip_line(cloud, "login", "login", "1000:SipExt", "1234")
    token = cloud.api("POST", "/apps/SipLocal/endusers/token/tokens", {})["token"]
    lines["token"] = baresip_line(cloud, "token", "redeem", token)
    desktop = cloud.command(
        "codes",
        "encode",
        "desktop",
        "--provider-id",
        "SipLocal",
        "--json",
        json.dumps([{"sipusername": "2003", "sippassword": SIP_USERS["2003"]}]),
    ).strip()
    lines["desktop"] = baresip_line(cloud, "desktop", "scan", desktop)
    wrong = cloud.api("GET", "/apps/SipLocal/endusers/wrong/code?format=local")["code"]
    lines["wrong"] = baresip_line(cloud, "wrong", "scan", wrong)
    return lines


def baresip_line(cloud: SessionCloud, state: str, *command: str) -> str:
    exported = cloud.work / f"{state}.accounts"
    cloud.phone(state, *command, "--baresip", str(exported))
    return [line for line in exported.read_text().splitlines() if line and not line.startswith("#")][0]


# --- baresip ---------------------------------------------------------------------------------


def tone_file(path: Path, frequency: int, seconds: int = 10) -> Path:
    # baresip's aufile reads 8 kHz mono WAV (ausine would need a 48 kHz pipeline).
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * i / 8000)))
                for i in range(8000 * seconds)
            )
        )
    return path


def baresip_dir(work: Path, name: str, accounts: list[str], tone: int) -> Path:
    folder = work / name
    (folder / "recordings").mkdir(parents=True)
    (folder / "accounts").write_text("".join(line + "\n" for line in accounts))
    (folder / "config").write_text(
        "\n".join(
            [
                "module_path /usr/lib/baresip/modules",
                f"sip_listen 127.0.0.1:{free_sip_port()}",
                "net_interface 127.0.0.1",  # the address; `lo` as a name finds no address in baresip 1.0
                f"audio_source aufile,{tone_file(folder / 'tone.wav', tone)}",
                f"audio_player aubridge,{name}",
                f"audio_alert aubridge,{name}-alert",
                f"snd_path {folder / 'recordings'}",  # sndfile: what the phone sent and heard, as WAV
                "module g711.so",
                "module aufile.so",
                "module aubridge.so",
                "module sndfile.so",
                "module_app account.so",
                "module_app menu.so",
                "",
            ]
        )
    )
    return folder


def heard_frequency(folder: Path) -> int:
    """The dominant frequency of what a phone received (zero crossings of its decoded audio)."""
    recordings = sorted((folder / "recordings").glob("*-dec.wav"))
    if not recordings:
        return 0
    with wave.open(str(recordings[-1])) as recording:
        frames = recording.getnframes()
        samples = struct.unpack(f"<{frames}h", recording.readframes(frames))
        rate = recording.getframerate()
    crossings = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))
    return round(crossings / 2 / (frames / rate)) if frames else 0


def registration_results(output: str) -> dict[str, str]:
    """user -> the final answer baresip logged for its REGISTER ("200 OK", "401 Unauthorized")."""
    results = {}
    for match in re.finditer(
        r"(?:^|reg: sip:)(\d{4})@[^:]+:\d*:? ?(?:\{[^}]*\} )?(\d{3} [A-Za-z ]+?)[ (]", output, re.MULTILINE
    ):
        results.setdefault(match.group(1), match.group(2))
    return results


def call_between_baresips(
    work: Path, lines: dict[str, str], registrar_port: int, processes: Processes
) -> Facts:
    callee_lines = [lines["token"] + ";answermode=auto", lines["login"]]
    caller_lines = [lines["qr"], lines["desktop"], lines["wrong"]]
    callee = baresip_dir(work, "callee", callee_lines, CALLEE_TONE)
    caller = baresip_dir(work, "caller", caller_lines, CALLER_TONE)
    callee_run = processes.start(["baresip", "-f", str(callee), "-t", "12"], log=work / "callee.log")
    wait_for(
        lambda: (
            "2002@" in (work / "callee.log").read_text(errors="replace")
            and "200 OK" in (work / "callee.log").read_text(errors="replace")
        ),
        10,
        "the callee did not register",
    )
    dial = f"/dial sip:2002@{DOMAIN_HOST}:{registrar_port}"
    caller_run = processes.start(
        ["baresip", "-f", str(caller), "-t", "7", "-e", dial], log=work / "caller.log"
    )
    caller_run.wait(timeout=15)
    callee_run.wait(timeout=15)
    caller_out = (work / "caller.log").read_text(errors="replace")
    callee_out = (work / "callee.log").read_text(errors="replace")
    return {
        "registrations": {**registration_results(callee_out), **registration_results(caller_out)},
        "caller_saw_ringing": "180 Ringing" in caller_out,
        "caller_established": "Call established" in caller_out,
        "callee_established": "Call established" in callee_out,
        "caller_heard_hz": heard_frequency(caller),
        "callee_heard_hz": heard_frequency(callee),
    }


# --- linphonec -------------------------------------------------------------------------------


@contextmanager
def linphonec(work: Path, config: Path, processes: Processes) -> Iterator[subprocess.Popen]:
    home = work / "linphone-home"
    (home / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)  # it needs its data folder
    process = subprocess.Popen(
        ["linphonec", "-c", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HOME": str(home)},
        start_new_session=True,
    )
    processes.adopt(process)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.stdin.write("quit\n")
            process.stdin.flush()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                stop(process)


def linphonec_session(
    work: Path, config: Path, processes: Processes, questions: tuple[str, ...] = (), seconds: float = 20
) -> tuple[bool, str]:
    """Start linphonec, ask its registration state until it is registered, then ask `questions`
    (console commands); quit. Returns whether it registered and what it answered."""
    with linphonec(work, config, processes) as process:
        os.set_blocking(process.stdout.fileno(), False)
        seen = _ask(process, (), seconds)
        # A last `status register` (asked until answered) marks the end of the answers.
        answers = _ask(process, questions, 5) if REGISTERED in seen else ""
        (work / f"{config.stem}.out").write_text(seen + answers, errors="replace")
        return REGISTERED in seen, answers


REGISTERED = "registered, identity="


def _ask(process: subprocess.Popen, questions: tuple[str, ...], seconds: float) -> str:
    """Ask the questions once, then `status register` every half second until linphonec
    answers that it is registered."""
    process.stdin.write("".join(f"{question}\n" for question in questions))
    seen, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline and REGISTERED not in seen:
        process.stdin.write("status register\n")
        process.stdin.flush()
        time.sleep(0.5)
        seen += _available(process.stdout.fileno())
    return seen


def _available(fd: int) -> str:
    # os.read, not the text stream's read(): that raises TypeError inside its decoder when a
    # non-blocking pipe has nothing yet, as linphonec's pipe may between two questions.
    try:
        return os.read(fd, 1 << 16).decode(errors="replace")
    except BlockingIOError:
        return ""


def linphone_entries(config: Path) -> dict[str, str]:
    """`section.key -> value` of linphonec's own (INI) configuration file."""
    entries, section = {}, ""
    for line in config.read_text(errors="replace").splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line:
            key, _, value = line.partition("=")
            entries[f"{section}.{key}"] = value
    return entries


# linphonec's answers to `firewall` (its NAT policy) and `codec list` (audio codecs, in order).
NAT_ANSWER = re.compile(r"No firewall|Using (?:ice with )?stun server \S+")
CODEC_ANSWER = re.compile(r"\d+: (\S+) \((\d+)\) (enabled|disabled)")


def linphone_provisioning(cloud: SessionCloud, work: Path, processes: Processes) -> Facts:
    token = cloud.api("POST", "/apps/SipLocal/endusers/linphone/tokens", {})
    address = token["linphoneUrl"]
    config = work / "linphonerc"
    config.write_text(f"[misc]\nconfig-uri={address}\n[sound]\nplayback_dev_id=\ncapture_dev_id=\n")
    # The baresip calls are over: from here the App's NAT policy reaches only linphonec.
    cloud.api("PATCH", "/apps/SipLocal", {"sip": {"stunServer": "127.0.0.1:3478", "ice": True}})
    first, first_answers = linphonec_session(work, config, processes, ("firewall", "codec list"))
    after_first = linphone_entries(config)
    cloud.api(
        "PATCH",
        "/apps/SipLocal",
        {
            "sip": {
                "registrationExpires": 300,
                "stunServer": None,
                "ice": False,
                "audioCodecs": ["PCMA", "PCMU"],
            }
        },
    )
    second, second_answers = linphonec_session(work, config, processes, ("firewall", "codec list"))
    after_second = linphone_entries(config)
    log = cloud.api("GET", "/apps/SipLocal/provisioning-log")
    return {
        "link": token["linphoneLink"],
        "first_registered": first,
        "first_identity": after_first.get("proxy_0.reg_identity"),
        "first_expires": after_first.get("proxy_0.reg_expires"),
        "first_nat": NAT_ANSWER.findall(first_answers),
        "first_audio_codecs": _codecs(first_answers),
        "first_saved_policy": _saved_policy(after_first),
        "stored_ha1": bool(after_first.get("auth_info_0.ha1")),
        "second_registered": second,
        "second_expires": after_second.get("proxy_0.reg_expires"),
        "second_nat": NAT_ANSWER.findall(second_answers),
        "second_audio_codecs": _codecs(second_answers),
        "second_saved_policy": _saved_policy(after_second),
        "second_saved_codecs": _saved_codecs(after_second),
        "fetches": [entry["flow"] for entry in log if entry["flow"] == "linphone"],
    }


def _codecs(answers: str) -> list[str]:
    return [f"{mime}/{rate} {state}" for mime, rate, state in CODEC_ANSWER.findall(answers)]


def _saved_policy(entries: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in entries.items() if key.startswith("nat_policy_0.")}


def _saved_codecs(entries: dict[str, str]) -> list[str]:
    """The audio codecs linphonec saved, read as it reads them: up to a section without a mime."""
    codecs: list[str] = []
    while f"audio_codec_{len(codecs)}.mime" in entries:
        index = len(codecs)
        codecs.append(f"{entries[f'audio_codec_{index}.mime']}/{entries.get(f'audio_codec_{index}.rate')}")
    return codecs


# --- the whole scenario ----------------------------------------------------------------------


def registrar_log_lines(path: Path) -> list[str]:
    return [
        line.split("<script>: ", 1)[1]
        for line in path.read_text(errors="replace").splitlines()
        if "<script>: " in line
    ]


def run(work: Path) -> Facts:
    started = time.monotonic()
    with Processes() as processes:
        registrar_port = free_sip_port()
        processes.adopt(
            start_registrar(work / "registrar", registrar_port, SIP_USERS, log=work / "registrar.log")
        )
        provider_port = free_port()
        cloud = SessionCloud(work, processes)
        set_up_apps(cloud, registrar_port, f"http://127.0.0.1:{provider_port}/provisioning")
        processes.start(
            [PYTHON, str(ROOT / "examples" / "provider_service.py"), "--port", str(provider_port)],
            log=work / "provider.log",
        )
        wait_for(lambda: _listening(provider_port), 10, "the example provider service did not start")
        facts: Facts = {
            "baresip": call_between_baresips(work, accounts_from_flows(cloud), registrar_port, processes)
        }
        facts["linphone"] = linphone_provisioning(cloud, work, processes)
    facts["registrar"] = registrar_log_lines(work / "registrar.log")
    facts["seconds"] = round(time.monotonic() - started, 1)
    return facts


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


TIME_LIMIT = 100  # seconds; the caller's own limit is longer, so this one stops everything first


def _give_up(signum: int, frame: Any) -> None:
    raise TimeoutError(f"the scenario was stopped after {TIME_LIMIT} s or by signal {signum}")


def main(argv: list[str]) -> int:
    work = Path(argv[0])
    # An exception (not a kill) unwinds Processes, so no registrar or phone outlives the run.
    signal.signal(signal.SIGALRM, _give_up)
    signal.signal(signal.SIGTERM, _give_up)
    signal.alarm(TIME_LIMIT)
    if "--netns" in argv:
        loopback_up()
    facts = run(work)
    (work / "facts.json").write_text(json.dumps(facts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
