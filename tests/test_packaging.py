"""environment.yml and pyproject.toml must ask for the same packages."""
import tomllib

import yaml
from packaging.requirements import Requirement

from xsd.paths import REPO


def _normalised(requirements):
    return {str(Requirement(r)).lower().replace("_", "-") for r in requirements}


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _normalised(project["dependencies"] + project["optional-dependencies"]["test"])
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    installs_package = [r for r in pip_section if r.startswith("-e")]
    assert installs_package == ["-e .[test]"], "environment.yml must install this package with its test extra"
    listed = _normalised(r for r in pip_section if not r.startswith("-e"))
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"


def test_torch_is_pinned_to_the_cpu_wheel_version():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]


def test_the_project_cites_nothing_outside_the_repository():
    """Code, notebooks, tests and docs cite the book's methods page, never a design file or a
    folder that a user's clone does not have."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    files = [p for folder in ("xsd", "notebooks", "tests") for p in (repo / folder).rglob("*")
             if p.suffix in {".py", ".md", ".yaml", ".ipynb"} and p.name != Path(__file__).name]
    files += [*(repo / "book").glob("*.md"), repo / "README.md"]  # book/ also holds generated notebooks
    offenders = [str(p.relative_to(repo)) for p in files
                 if "DESIGN" + ".md" in p.read_text() or "../" + "shared" in p.read_text()]
    assert not offenders
