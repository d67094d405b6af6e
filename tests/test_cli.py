import pytest

from xsd.runner import parse_parameters


def test_help_lists_every_command(run_xsd):
    result = run_xsd("--help")
    assert result.returncode == 0
    for command in ("run", "book", "golden", "profile"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["run", "book", "profile"])
def test_each_command_explains_itself(run_xsd, command):
    result = run_xsd(command, "--help")
    assert result.returncode == 0
    assert "--profile" in result.stdout


def test_no_command_prints_help_and_fails(run_xsd):
    result = run_xsd()
    assert result.returncode == 2
    assert "commands" in result.stdout


def test_unknown_profile_is_a_clear_error(run_xsd):
    result = run_xsd("profile", "--profile", "huge")
    assert result.returncode == 2
    assert "unknown profile 'huge'" in result.stderr


def test_profile_prints_settings(run_xsd):
    result = run_xsd("profile", "--profile", "smoke")
    assert result.returncode == 0
    assert '"name": "smoke"' in result.stdout and "fingerprint" in result.stdout


def test_unknown_notebook_is_a_clear_error(run_xsd):
    result = run_xsd("run", "no_such_study", "--profile", "smoke")
    assert result.returncode == 2
    assert "no study notebook 'no_such_study'" in result.stdout
    assert "speed_ratio" in result.stdout  # lists what exists


def test_malformed_parameter_is_a_clear_error(run_xsd):
    result = run_xsd("run", "speed_ratio", "-p", "gamma5")
    assert result.returncode == 2
    assert "key=value" in result.stdout


def test_parameters_are_read_as_yaml():
    assert parse_parameters(["gamma=5", "c=0.5", "name=abc", "flag=true", "empty="]) == {
        "gamma": 5, "c": 0.5, "name": "abc", "flag": True, "empty": "",
    }
