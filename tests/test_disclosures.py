"""The accounting of disclosures: every export is recorded in the log before it leaves,
and oversight and the inspector general can list them (CLI, API, dashboard).

The story: an inspector takes an audit bundle by the command line and another through
the API; each is recorded (`audit.ExportGenerated`) with its recipient, purpose and the
SHA-256 of its manifest, which names the SHA-256 of every file; `cmpp disclosures`
lists both, as does oversight's page. An export that cannot be recorded never appears."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.api_support import program
from tests.cli_support import BUNDLE_TO_OIG, cli_env, fast_settings
from tests.dashboard_support import sign_in
from tools import console
from tools.cli import app


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_bundle_taken_at_the_command_line_is_recorded_before_it_appears(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "load_settings", fast_settings)
    env = cli_env(database_url, tmp_path / "var")
    for args in (["init"], ["demo", "--participants", "2", "--seed", "5"]):
        assert invoke(env, *args).exit_code == 0
    none = json.loads(invoke(env, "disclosures", "--json").stdout)
    assert none["exports"] == 0 and none["rows"] == []

    bundle = tmp_path / "bundle"
    exported = invoke(env, *BUNDLE_TO_OIG, str(bundle))
    assert exported.exit_code == 0, exported.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    listed = json.loads(invoke(env, "disclosures", "--json").stdout)
    [row] = listed["rows"]
    assert listed["exports"] == 1
    assert (row["kind"], row["recipient"], row["purpose"]) == ("bundle", "org:dhs-oig", "audit")
    assert row["sha256"] == _sha256(bundle / "manifest.json")
    assert row["parameters"]["size"] == manifest["size"]
    assert row["seq"] >= manifest["size"]  # recorded after the entries it holds
    assert f"entry {row['seq']}" in exported.stdout
    # The bundle verifies offline, the record of it is an entry of the verified log.
    assert invoke(env, "verify", "--bundle", str(bundle)).exit_code == 0
    assert invoke(env, "verify").exit_code == 0

    # A purpose outside the published list: refused before anything is written.
    refused = invoke(
        env, "export", "bundle", "--recipient", "x", "--purpose", "curiosity", str(tmp_path / "b2")
    )
    assert refused.exit_code == 2 and "--purpose must be one of" in refused.stderr
    # The recipient is written to the log: an id, never a name or an address.
    for named in ("Jane Q. Public <jane@example.com>", "org:cws with Jane", "user:Jane"):
        refused = invoke(
            env,
            "export",
            "bundle",
            "--recipient",
            named,
            "--purpose",
            "audit",
            str(tmp_path / "b2"),
        )
        assert refused.exit_code == 2 and "--recipient must be" in refused.stderr
    assert not (tmp_path / "b2").exists()
    assert json.loads(invoke(env, "disclosures", "--json").stdout)["exports"] == 1
    text = invoke(env, "disclosures")
    assert text.exit_code == 0 and row["sha256"] in text.stdout.replace("\n", "")


def test_a_bundle_downloaded_is_recorded_to_its_person_and_listed_for_oversight(
    tmp_path: Path,
) -> None:
    with program(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "data") as p:
        assert p.get("crcl", "/v1/disclosures").json()["exports"] == 0
        answer = p.client.get("/v1/bundle", headers=p.headers("oig"))
        assert answer.status_code == 200, answer.text
        seq = int(answer.headers["CMPP-Export-Seq"])
        with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:gz") as tar:
            [manifest] = [m for m in tar.getmembers() if m.name.endswith("/manifest.json")]
            extracted = tar.extractfile(manifest)
            assert extracted is not None
            manifest_bytes = extracted.read()
        listed = p.get("crcl", "/v1/disclosures")
        assert listed.status_code == 200
        [row] = listed.json()["rows"]
        assert row["seq"] == seq and row["recipient"] == p.people["oig"]
        assert row["purpose"] == "audit" and row["kind"] == "bundle"
        assert row["sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
        # Nobody outside oversight and the inspector sees the accounting.
        assert p.get("cws", "/v1/disclosures").status_code == 403
        assert p.get("irc", "/v1/disclosures").status_code == 403
        # The dashboard's page lists it, linked to its entry.
        sign_in(p.client, p.tokens["crcl"])
        page = p.client.get("/ui/disclosures")
        assert page.status_code == 200 and f'data-export="{seq}"' in page.text
        assert row["sha256"] in page.text
        # As of an entry before the export: nothing had left yet.
        earlier = p.client.get(f"/ui/disclosures?at={seq - 1}")
        assert earlier.status_code == 200 and "No export recorded by then." in earlier.text
