"""``latest-image-build resolve`` (the default command): what a deploy would pin, for scripts."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

from local_endpoints.imagebuilder import FakeImageBuilder
from tests.cli_tests.conftest import Cli, one_line_failure


def test_prints_the_same_data_a_deploy_would_pin(
    fake: FakeImageBuilder, cli: Cli, invoke: Any
) -> None:
    fake.add("Amazon Linux 2023 x86", "2026.1.0", owner="Amazon")
    fake.add("Amazon Linux 2023 x86", "2026.10.0", owner="Amazon")
    result = cli("resolve", "--name", "Amazon Linux 2023 x86", "--owner", "Amazon")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    deployed = invoke(ImageName="Amazon Linux 2023 x86", Owner="Amazon")["Data"]
    assert printed == deployed
    assert printed["Version"] == "2026.10.0"
    assert result.stderr == ""  # the JSON log line only with --verbose


def test_bare_options_run_resolve(fake: FakeImageBuilder, cli: Cli) -> None:
    fake.add("golden", "1.4.0")
    bare = cli("--name", "golden", "--selector", "1.x.x")
    explicit = cli("resolve", "--name", "golden", "--selector", "1.x.x")
    assert bare.returncode == explicit.returncode == 0, bare.stderr + explicit.stderr
    assert bare.stdout == explicit.stdout
    assert json.loads(bare.stdout)["BuildVersion"] == "1.4.0/1"


def test_field_prints_one_attribute_raw(fake: FakeImageBuilder, cli: Cli) -> None:
    fake.add("golden", "1.4.0")
    data = json.loads(cli("--name", "golden").stdout)
    assert cli("--name", "golden", "--field", "AmiId").stdout == data["AmiId"] + "\n"
    assert cli("--name", "golden", "--field", "buildversion").stdout == "1.4.0/1\n"
    line = one_line_failure(cli("--name", "golden", "--field", "Ami"), 2)
    assert "'Ami'" in line and "AmiId" in line
    one_line_failure(cli("--name", "golden", "--field", "AmiId", "--format", "env"), 2)


def test_env_lines_eval_to_the_exact_values(
    fake: FakeImageBuilder, cli: Cli, tmp_path: Path
) -> None:
    # The OS version is text the service returns; it must not run in the caller's shell.
    hostile = "Amazon Linux 2023 $(touch PWNED) `touch PWNED` 'quoted' \"double\" ; ls"
    fake.add("Amazon Linux 2023 x86", "2026.1.0", owner="Amazon", os_version=hostile)
    args = ("--name", "Amazon Linux 2023 x86", "--owner", "Amazon", "--type", "AMI")
    data = json.loads(cli(*args).stdout)
    result = cli(*args, "--format", "env")
    assert result.returncode == 0, result.stderr
    keys = [line.split("=", 1)[0] for line in result.stdout.splitlines()]
    assert keys == list(data)
    script = 'eval "$(cat)"; for k in ' + " ".join(keys) + '; do printf "%s\\0" "${!k}"; done'
    shell = subprocess.run(
        ["bash", "-c", script], input=result.stdout, capture_output=True, text=True, cwd=tmp_path
    )
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.split("\0")[:-1] == list(data.values())
    assert not (tmp_path / "PWNED").exists()
    # $GITHUB_ENV takes `NAME=value` literally (no quote removal): values with only
    # [A-Za-z0-9@%+=:,./_-] are written bare, so those lines mean the same there.
    github = dict(line.split("=", 1) for line in result.stdout.splitlines())
    for key in ("ImageBuildVersionArn", "Version", "BuildVersion", "AmiId", "DateCreated"):
        assert github[key] == data[key]
    assert github["ContainerImageUri"] == data["ContainerImageUri"] == ""


def test_verbose_writes_the_json_log_line_to_stderr(fake: FakeImageBuilder, cli: Cli) -> None:
    fake.add("golden", "1.4.0")
    result = cli("--name", "golden", "--verbose")
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    record = json.loads(line)
    assert record["message"] == "image lookup" and record["outcome"] == "resolved"
    assert json.loads(result.stdout)["BuildVersion"] == "1.4.0/1"


def test_owner_is_case_insensitive(fake: FakeImageBuilder, cli: Cli) -> None:
    fake.add("Amazon Linux 2023 x86", "2026.1.0", owner="Amazon")
    lower = cli("--name", "Amazon Linux 2023 x86", "--owner", "amazon")
    exact = cli("--name", "Amazon Linux 2023 x86", "--owner", "Amazon")
    assert lower.returncode == 0, lower.stderr
    assert lower.stdout == exact.stdout


def test_account_narrows_the_lookup(fake: FakeImageBuilder, cli: Cli) -> None:
    fake.add("golden", "1.4.0")  # an own image: account 123456789012
    mine = cli("--name", "golden", "--selector", "1.x.x", "--platform", "Linux",
               "--account", "123456789012")  # fmt: skip
    assert mine.returncode == 0, mine.stderr
    other = cli("--name", "golden", "--selector", "1.x.x", "--platform", "Linux",
                "--account", "999999999999")  # fmt: skip
    line = one_line_failure(other, 1)
    assert "'999999999999'" in line
    one_line_failure(cli("--name", "golden", "--account", "12345"), 2)


def test_no_match_exits_1_with_one_line(fake: FakeImageBuilder, cli: Cli) -> None:
    fake.add("golden", "1.0.0")
    line = one_line_failure(cli("--name", "golden", "--selector", "2.x.x"), 1)
    assert "'2.x.x'" in line and "1.0.0" in line


def test_invalid_option_values_are_usage_errors_without_calls(
    fake: FakeImageBuilder, cli: Cli
) -> None:
    line = one_line_failure(cli("--name", "golden", "--selector", "1.x.3"), 2)
    assert "--selector" in line and "'1.x.3'" in line
    line = one_line_failure(cli("--name", "golden", "--version", "1.x.3"), 2)  # deprecated
    assert "--version" in line and "'1.x.3'" in line
    line = one_line_failure(cli("--name", "golden", "--platform", "Solaris"), 2)
    assert "--platform: invalid platform 'Solaris': use one of Windows, Linux, macOS" in line
    line = one_line_failure(cli("--name", "golden", "--min-age", "3 weeks"), 2)
    assert "--min-age" in line and "'3 weeks'" in line
    line = one_line_failure(cli("--name", "golden", "--require-tag", "stage"), 2)
    assert "'stage': use KEY=VALUE" in line
    line = one_line_failure(cli("--name", "golden", "--owner", "amazonn"), 2)
    assert "--owner" in line and "'amazonn'" in line
    assert fake.calls == []


def test_messages_name_options_not_property_keys(fake: FakeImageBuilder, cli: Cli) -> None:
    line = one_line_failure(cli("--selector", "1.x.x"), 2)
    assert "--name is required" in line
    line = one_line_failure(cli("--name", "golden", "--owner", "Amazon", "--include-deprecated"), 2)
    assert "--include-deprecated" in line and "include_deprecated" not in line
    line = one_line_failure(cli("--name", "golden", "--exclude-tag", "aws:owner=x"), 2)
    assert "--exclude-tag" in line and "ExcludeTags" not in line
    assert fake.calls == []


def test_gates_from_the_command_line(fake: FakeImageBuilder, cli: Cli) -> None:
    image = fake.add("golden", "1.0.0", "AVAILABLE", "AVAILABLE")
    image.builds[0].tags = {"stage": "prod"}
    image.builds[0].date_created = "2020-02-14T19:46:16.904Z"
    result = cli("--name", "golden", "--require-tag", "stage=prod", "--min-age", "7d")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["BuildVersion"] == "1.0.0/1"


def test_missing_credentials_is_one_line(fake: FakeImageBuilder, cli: Cli) -> None:
    result = cli("--name", "golden", unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    line = one_line_failure(result, 1)
    assert "no AWS credentials" in line and "AWS_PROFILE" in line


def test_region_comes_from_aws_region_then_aws_default_region(
    fake: FakeImageBuilder, cli: Cli
) -> None:
    fake.add("golden", "1.4.0")
    only_aws_region = cli("--name", "golden", "--verbose", unset=("AWS_DEFAULT_REGION",))
    assert only_aws_region.returncode == 0, only_aws_region.stderr
    assert json.loads(only_aws_region.stderr)["region"] == "us-east-1"
    # AWS_REGION wins over AWS_DEFAULT_REGION, as in Lambda and the CDK CLI
    both = cli("--name", "golden", "--verbose", AWS_DEFAULT_REGION="eu-west-1")
    assert json.loads(both.stderr)["region"] == "us-east-1"
    line = one_line_failure(cli("--name", "golden", unset=("AWS_REGION", "AWS_DEFAULT_REGION")), 1)
    assert "no region" in line and "--region" in line and "AWS_REGION" in line
    line = one_line_failure(cli("--name", "golden", AWS_REGION="mars"), 1)
    assert "'mars'" in line and "AWS_REGION" in line


def test_network_failure_says_so_and_nothing_about_the_region(cli: Cli) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    line = one_line_failure(cli("--name", "golden", AWS_ENDPOINT_URL_IMAGEBUILDER=closed), 1)
    assert "cannot reach" in line and closed in line
    assert "offered" not in line and "service" not in line


def test_throttling_until_the_timeout_names_the_option(fake: FakeImageBuilder, cli: Cli) -> None:
    fake.add("golden", "1.4.0")
    fake.always("GetImage", lambda _params: (429, {"__error__": "ThrottlingException"}))
    line = one_line_failure(cli("--name", "golden", "--timeout", "15"), 1)
    assert "--timeout 15 s" in line and "ThrottlingException" in line
    assert "function" not in line
    for refused in ("0", "-3", "soon", "inf", "nan"):
        line = one_line_failure(cli("--name", "golden", "--timeout", refused), 2)
        assert f"--timeout: invalid value {refused!r}: a number of seconds greater than 0" in line


def test_a_short_timeout_is_the_users_to_choose(fake: FakeImageBuilder, cli: Cli) -> None:
    """README "Command line": any --timeout is accepted; each attempt's connect and read
    timeouts shrink to fit it, and a service slower than it fails with the deadline's line."""
    fake.add("golden", "1.4.0")
    quick = cli("--name", "golden", "--timeout", "4")
    assert quick.returncode == 0, quick.stderr
    assert json.loads(quick.stdout)["BuildVersion"] == "1.4.0/1"
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = cli("--name", "golden", "--timeout", "4", AWS_ENDPOINT_URL_IMAGEBUILDER=url)
    line = one_line_failure(result, 1)
    assert line.startswith("latest-image-build: gave up on ListImages in region us-east-1 after ")
    assert "attempts within --timeout 4 s; last failure: ReadTimeoutError" in line


def test_version_prints_the_tools_version(cli: Cli) -> None:
    """CONTRACT "Many accounts": `latest-image-build --version` prints the tool's version."""
    from importlib.metadata import version

    expected = f"latest-image-build {version('latest-image-build')}\n"
    for args in (("--version",), ("resolve", "--version"), ("--version", "--name", "golden")):
        result = cli(*args)
        assert (result.returncode, result.stdout, result.stderr) == (0, expected, ""), args


def test_version_with_a_selector_still_works_with_a_deprecation_notice(
    fake: FakeImageBuilder, cli: Cli
) -> None:
    fake.add("golden", "1.4.0")
    fake.add("golden", "2.0.0")
    old = cli("--name", "golden", "--version", "1.x.x")
    new = cli("--name", "golden", "--selector", "1.x.x")
    assert old.returncode == new.returncode == 0, old.stderr
    assert old.stdout == new.stdout and json.loads(old.stdout)["Version"] == "1.4.0"
    assert old.stderr == (
        "latest-image-build: --version SELECTOR is deprecated: use --selector 1.x.x "
        "(--version alone prints the tool's version)\n"
    )
    assert new.stderr == ""
    both = cli("--name", "golden", "--version", "1.x.x", "--selector", "2.x.x")
    assert both.returncode == 2 and "not both" in both.stderr


def test_access_denied_speaks_of_the_caller_not_a_function(
    fake: FakeImageBuilder, cli: Cli
) -> None:
    fake.add("golden", "1.4.0")
    fake.fail_next("GetImage", 1, "AccessDeniedException", 403)
    line = one_line_failure(cli("--name", "golden"), 1)
    assert "imagebuilder:GetImage" in line and "function" not in line


def test_top_level_help_lists_commands_and_exit_codes(cli: Cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    for text in ("resolve", "check", "lock", "exit codes", "3 check", "4 check"):
        assert text in result.stdout
