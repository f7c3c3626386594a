"""Every command line the README shows runs as written.

The shell blocks are run line by line with the README's placeholders replaced by this
test's files (the key file, a PostgreSQL database); each command of the Commands table
is run in a concrete form listed here, and the table and this list must name the same
commands, so that a command added to the README without a run here fails.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import requests

from interop import Warden, clean_environment, free_port
from proof_of_possession import new_key, public_jwks

README = Path(__file__).resolve().parents[2] / "README.md"


def shell_blocks() -> list[list[str]]:
    """The command lines of each of the README's ```sh blocks (continuations joined, comments cut)."""
    blocks: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        lines = [line.split("  #")[0].strip() for line in block.replace("\\\n", " ").splitlines()]
        blocks.append([line for line in lines if line])
    return blocks


def table_synopses() -> list[str]:
    """The first code span of each row of the Commands table."""
    text = README.read_text()
    table = text[text.index("| command | what it does |"):]
    table = table[:table.index("\n\n")]
    return [re.findall(r"`([^`]+)`", row)[0] for row in table.splitlines()[2:]]


def test_the_quick_start_names_the_two_make_targets():
    lines = shell_blocks()[0]
    assert lines == ["make demo", "make test"], lines
    makefile = (README.parent / "Makefile").read_text()
    assert "serve --demo" in makefile and "\ntest:" in makefile


def expand(line: str, replacements: dict[str, str]) -> list[str]:
    for placeholder, value in replacements.items():
        line = line.replace(placeholder, value)
    argv = shlex.split(line)
    assert argv[0] in ("warden", ".build/release/warden"), line
    return argv[1:]


def serve_briefly(warden: Warden, argv: list[str], env: dict[str, str]) -> None:
    """`serve` as written, on a free port, until /healthz answers; then SIGTERM."""
    port = free_port()
    process = subprocess.Popen([str(warden.binary), *argv, "--port", str(port)], cwd=warden.cwd, env=clean_environment(env),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError(f"serve {argv}: did not serve: {process.stderr.read() if process.poll() is not None else ''}")
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


def test_the_shell_blocks_run_as_written(warden: Warden, postgres):
    """Each block in order, in one installation, with this test's placeholders: the key
    file or key, and PostgreSQL databases (made here, standing in for `createdb`)."""
    shared, target = postgres.create_database(), postgres.create_database()
    replacements = {
        "/etc/warden/kek": str(warden.kek_file), "postgres://warden:SECRET@db.internal:5432/warden": shared,
        "postgres://warden@db:5432/warden": target, "...": warden.kek_file.read_text().strip(),
    }
    skipped = ("make ", "swift build", "openssl ", "createdb ")  # CI runs make; swift built this binary; see above
    ran = 0
    try:
        for block in shell_blocks():
            env: dict[str, str] = {}
            for line in block:
                if line.startswith(skipped):
                    continue
                if line.startswith("export "):
                    name, _, value = line.removeprefix("export ").partition("=")
                    env[name] = replacements.get(value, value)
                    continue
                argv = expand(line, replacements)
                if argv[0] == "serve":
                    serve_briefly(warden, argv, env)
                else:
                    result = subprocess.run([str(warden.binary), *argv], cwd=warden.cwd, env=clean_environment(env),
                                            capture_output=True, text=True, timeout=120)
                    assert result.returncode == 0, f"{line}: {result.stderr}"
                ran += 1
    finally:
        postgres.drop_database(shared)
        postgres.drop_database(target)
    assert ran >= 5  # serve, clients create, serve on PostgreSQL, export, import


# The Commands table's synopses, each with the concrete command this test runs for it
# (after a client, a user and a second key exist: see below).
CONCRETE = {
    "warden serve [--host H] [--port P] [--issuer URL] [--demo]": None,  # run by test_the_shell_blocks_run_as_written
    "warden migrate [--status]": ["migrate", "--status"],
    'warden clients create --name NAME [--grant-type G]... [--redirect-uri URI]... [--scope "s1 s2"] [--audience A]... '
    "[--auth-method M] [--skip-consent] [--pkce-optional] [--json]":
        ["clients", "create", "--name", "app", "--grant-type", "authorization_code", "--redirect-uri", "https://app.example.com/cb",
         "--scope", "profile", "--auth-method", "client_secret_post", "--json"],
    "warden clients create ... [--id-token-signed-response-alg RS256\\|ES256\\|EdDSA] [--post-logout-redirect-uri URI]... "
    "[--backchannel-logout-uri URI]":
        ["clients", "create", "--name", "rp", "--grant-type", "authorization_code", "--redirect-uri", "https://rp.example.com/cb",
         "--scope", "openid profile", "--auth-method", "none", "--id-token-signed-response-alg", "ES256",
         "--post-logout-redirect-uri", "https://rp.example.com/bye", "--backchannel-logout-uri", "https://rp.example.com/bcl"],
    "warden clients create ... --grant-type token_exchange --exchange-audience AUD... [--audience A]...":
        ["clients", "create", "--name", "orders", "--grant-type", "token_exchange", "--audience", "https://orders.example.com",
         "--exchange-audience", "https://inventory.example.com", "--exchange-audience", "https://billing.example.com", "--json"],
    "warden clients create ... [--auth-method private_key_jwt (--jwks FILE \\| --jwks-uri URL)] [--require-dpop] [--require-par]":
        ["clients", "create", "--name", "svc", "--auth-method", "private_key_jwt", "--jwks", "{jwks}", "--require-dpop",
         "--require-par", "--grant-type", "client_credentials", "--json"],
    "warden clients update ID (--jwks FILE \\| --jwks-uri URL) [--json]":
        ["clients", "update", "{keyed_client}", "--jwks-uri", "https://svc.example.com/jwks.json", "--json"],
    "warden clients list [--json]": ["clients", "list", "--json"],
    "warden registration-tokens create [--expires-in S] [--max-uses N] [--json]":
        ["registration-tokens", "create", "--expires-in", "3600", "--max-uses", "5", "--json"],
    "warden registration-tokens list [--json]": ["registration-tokens", "list", "--json"],
    "warden registration-tokens revoke ID": ["registration-tokens", "revoke", "{registration_token}"],
    "warden clients delete ID": ["clients", "delete", "{client}"],
    "warden clients rotate-secret ID [--json]": ["clients", "rotate-secret", "{client}", "--json"],
    "warden users create --username U (--password-stdin \\| --password P)": ["users", "create", "--username", "zoe", "--password", "pw-zoe-1"],
    "warden users create ... [--name N] [--given-name G] [--family-name F] [--email E] [--email-verified]":
        ["users", "create", "--username", "yan", "--password", "pw-yan-1", "--name", "Yan Li", "--email", "yan@example.com",
         "--email-verified"],
    "warden users update U [--name N] [--given-name G] [--family-name F] [--email E] [--email-verified \\| --email-unverified]":
        ["users", "update", "yan", "--given-name", "Yan", "--email", ""],
    "warden users show U [--json]": ["users", "show", "yan", "--json"],
    "warden users list [--json]": ["users", "list", "--json"],
    "warden sessions list [--username U] [--json]": ["sessions", "list", "--username", "yan", "--json"],
    "warden sessions revoke SID": ["sessions", "revoke", "--username", "yan"],
    "warden purge": ["purge"],
    "warden keys list [--json]": ["keys", "list", "--json"],
    "warden keys rotate [--algorithm ES256\\|RS256\\|EdDSA] [--now]": ["keys", "rotate", "--algorithm", "EdDSA", "--now"],
    "warden keys retire KID": ["keys", "retire", "{old_kid}"],
    "warden export FILE": ["export", "{file}"],
    "warden import FILE": None,  # run by test_the_shell_blocks_run_as_written, into PostgreSQL
}


def test_every_command_of_the_table_runs(warden: Warden, tmp_path: Path):
    assert set(table_synopses()) == set(CONCRETE), set(table_synopses()) ^ set(CONCRETE)
    client = warden.create_client()
    # The first ES256 key, verifying once its successor signs, so it may be retired.
    old_kid = warden.rotate(now=True)
    warden.rotate(now=True)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(public_jwks(new_key())))
    keyed = warden.run_json("clients", "create", "--name", "keyed", "--auth-method", "private_key_jwt", "--jwks", str(jwks))
    registration_token = warden.run_json("registration-tokens", "create")
    values = {"{client}": client.client_id, "{file}": str(tmp_path / "export.jsonl"), "{old_kid}": old_kid, "{jwks}": str(jwks),
              "{keyed_client}": keyed["client_id"], "{registration_token}": registration_token["id"]}
    order = sorted(CONCRETE.items(), key=lambda item: ("retire" in item[0], "delete" in item[0]))
    for synopsis, argv in order:
        if argv is None:
            continue
        argv = [values.get(part, part) for part in argv]
        result = warden.run(*argv, check=False, positional=())
        assert result.returncode == 0, f"{synopsis}: {result.stderr}"


@pytest.mark.parametrize("argv, hint", [
    (["clients", "add"], "did you mean 'warden clients create'?"),
    (["client", "list"], "did you mean 'warden clients'?"),
    (["user", "list"], "did you mean 'warden users'?"),
    (["keys", "retrie"], "did you mean 'warden keys retire'?"),
])
def test_a_mistyped_command_gets_the_nearest_one(warden: Warden, argv: list[str], hint: str):
    result = subprocess.run([str(warden.binary), *argv], cwd=warden.cwd, env=clean_environment(), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert hint in result.stderr, result.stderr


def test_global_options_may_come_before_the_command(warden: Warden):
    warden.create_client(name="before")
    result = subprocess.run(
        [str(warden.binary), "--database", str(warden.database), "--key-encryption-key-file", str(warden.kek_file), "clients", "list",
         "--json"],
        cwd=warden.cwd, env=clean_environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "before" in result.stdout
