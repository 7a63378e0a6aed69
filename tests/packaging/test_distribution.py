"""What the package declares, without building it: dependencies against requirements.txt, the
``switchyard`` command line, where an installed package keeps its data."""

from __future__ import annotations

import re
import stat
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from switchyard import __version__, paths
from switchyard.cli import Invocation, UsageError, main, parse

REPO = Path(__file__).resolve().parents[2]


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def pinned() -> dict[str, Requirement]:
    requirements = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-"):
            requirement = Requirement(text)
            requirements[canonicalize_name(requirement.name)] = requirement
    return requirements


def declared_requirements() -> dict[str, list[Requirement]]:
    """Every requirement of the package, its transport extras (``switchyard[kafka]``) included, by
    name: requirements.txt (what ``make run`` installs) pins the union."""
    listed = list(project()["dependencies"])
    for extra in project().get("optional-dependencies", {}).values():
        listed += extra
    declared: dict[str, list[Requirement]] = {}
    for requirement in map(Requirement, listed):
        declared.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    return declared


def test_package_depends_on_exactly_the_pinned_packages_with_their_extras() -> None:
    declared = declared_requirements()
    pins = pinned()
    assert sorted(declared) == sorted(pins)
    for name, requirements in declared.items():
        assert set().union(*(r.extras for r in requirements)) == pins[name].extras, name
    core = {canonicalize_name(r.name): r for r in map(Requirement, project()["dependencies"])}
    assert "redis" in core["kombu"].extras  # kombu.transport.redis imports packaging, which the extra brings
    assert "kafka" in project()["optional-dependencies"] and "sqs" in project()["optional-dependencies"]


def test_every_pin_satisfies_the_range_the_package_declares() -> None:
    declared = declared_requirements()
    for name, pin in pinned().items():
        (exact,) = pin.specifier
        assert exact.operator == "==", f"requirements.txt must pin {name} exactly"
        for requirement in declared[name]:
            assert requirement.specifier.contains(exact.version), f"{name}=={exact.version} outside {requirement}"


def test_version_is_written_once_and_read_by_the_build() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "switchyard/__init__.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert pyproject["project"]["scripts"]["switchyard"] == "switchyard.cli:main"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["serve", "--broker", "redis://h/1", "--port", "9"],
            Invocation("serve", ["--port", "9"], {"SWITCHYARD_BROKER_URL": "redis://h/1"}),
        ),
        (["--broker=redis://h/1", "check"], Invocation("check", [], {"SWITCHYARD_BROKER_URL": "redis://h/1"})),
        (["monitor", "--config", "/etc/s.toml"], Invocation("monitor", [], {"SWITCHYARD_CONFIG": "/etc/s.toml"})),
        (["demo", "--", "--broker", "x"], Invocation("demo", ["--", "--broker", "x"], {})),
        (["--version"], Invocation(None, ["--version"], {})),
    ],
)
def test_global_options_are_taken_anywhere_before_a_double_dash(argv, expected) -> None:
    assert parse(argv) == expected


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["serve", "--broker"], "--broker needs a value"),
        (["serve", "--broker", "--port", "9"], "--broker needs a value"),
        (["check", "--broker", "redis://a", "--broker", "redis://b"], "--broker given twice"),
        (["serve", "--broker", "redis://a", "--config", "f.toml"], "not both"),
    ],
)
def test_malformed_global_options_are_refused(argv, said) -> None:
    with pytest.raises(UsageError, match=said):
        parse(argv)


def test_version_option_prints_the_package_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"switchyard {__version__}\n"


def test_a_commands_version_option_is_switchyards_not_djangos(capsys) -> None:
    assert main(["serve", "--version"]) == 0
    assert capsys.readouterr().out == f"switchyard {__version__}\n"


def test_no_command_prints_the_commands_and_fails(capsys) -> None:
    assert main([]) == 2
    usage = capsys.readouterr().out
    for command in ("serve", "monitor", "worker", "migrate", "createuser", "issuetoken", "check"):
        assert f"\n  {command} " in usage


def test_broker_option_overridden_by_a_configuration_file_is_refused(tmp_path, monkeypatch, capsys) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text('[brokers.main]\nurl = "redis://127.0.0.1:6379/3"\n')
    monkeypatch.setenv("SWITCHYARD_CONFIG", str(config))
    assert main(["check", "--broker", "redis://127.0.0.1:6379/4"]) == 1
    assert "--broker is overridden by SWITCHYARD_CONFIG" in capsys.readouterr().err


def test_checkout_keeps_its_data_in_the_checkout() -> None:
    assert paths.running_from_checkout(REPO)
    assert paths.data_dir(REPO) == REPO
    assert paths.assets_dir(REPO) == REPO


def test_installed_package_keeps_its_data_in_the_xdg_data_home(tmp_path) -> None:
    site_packages = tmp_path / "site-packages"
    site_packages.mkdir()
    home = tmp_path / "data"
    directory = paths.data_dir(site_packages, {"XDG_DATA_HOME": str(home)})
    assert directory == home / "switchyard" and directory.is_dir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert paths.assets_dir(site_packages) == paths.PACKAGE_DIR


def test_relative_xdg_data_home_is_ignored_as_the_specification_says() -> None:
    assert paths.user_data_dir({"XDG_DATA_HOME": "relative/dir"}) == Path.home() / ".local/share/switchyard"
    assert paths.user_data_dir({}) == Path.home() / ".local/share/switchyard"


def test_generated_secret_key_is_kept_private_and_reused(tmp_path) -> None:
    key_file = tmp_path / ".secret_key"
    first = paths.generated_secret_key(key_file)
    assert len(first) >= 50 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert paths.generated_secret_key(key_file) == first
    assert [p.name for p in tmp_path.iterdir()] == [".secret_key"]  # no temporary file left behind
